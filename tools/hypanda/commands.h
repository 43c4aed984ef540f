// The hypanda subcommands, one function each (main.cc parses the command
// line and calls them). Each returns an exit status from common.h.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hypanda::cli {

// Options every subcommand that reports or reaches libvirt takes.
struct Global {
    const char* argv0 = "hypanda";
    std::string uri;     // -c URI, as virsh takes it
    bool json = false;   // --json
};

// recordings.cc
int cmd_info(const std::string& name, bool as_json);
int cmd_replay(const char* argv0, const std::string& name, const std::vector<std::string>& plugins, bool verify,
               bool as_json);

// control.cc: a run folder or a libvirt domain (target.h)
int cmd_switch(const Global& g, const std::string& target, const std::string& engine);
int cmd_record(const Global& g, const std::string& target, const std::string& action, const std::string& name);
int cmd_plugins(const Global& g, const std::string& target, const std::string& action, const std::string& what);
// Ends the guest, or with `resume` lets a paused one run.
int cmd_stop(const Global& g, const std::string& target, bool resume);

// What a guest is made of, for `run` and `domain create`.
struct GuestOptions {
    std::string kernel;
    std::string append;
    std::vector<std::string> disks;
    std::vector<std::string> plugins;  // name[:key=value,...]
    bool hybrid = false;
    std::string start;                 // hybrid's first engine, "" : its default
    std::string hypercall;             // allow classes, "" : no device
    std::string hypercall_record;      // recording name for the guest's brackets
    uint64_t memory_mib = 128;
    std::string cpu;                   // -cpu, "" : the emulator's default
    std::vector<std::string> emulator_args;
};

// run.cc
struct RunOptions {
    std::string dir;
    GuestOptions guest;
    std::string accel;  // "" : kvm with --hybrid, else tcg
    bool detach = false;
    bool paused = false;
};
int cmd_run(const Global& g, const RunOptions& o);

// domain.cc
struct CreateOptions {
    std::string name;
    GuestOptions guest;
    std::string type;        // "" : kvm with --hybrid, else qemu
    std::string recordings;  // folder
    std::string serial_log;
    std::string emulator;    // "" : the one next to this tool
    bool print = false;      // print the XML, define nothing
};
int cmd_domain_create(const Global& g, const CreateOptions& o);
int cmd_domain_define(const Global& g, const std::string& file);
// Starts a defined domain; when our libvirt hook refuses it, prints the
// hook's own line alone, without libvirt's wrapping.
int cmd_domain_start(const Global& g, const std::string& name, bool paused);

}  // namespace hypanda::cli
