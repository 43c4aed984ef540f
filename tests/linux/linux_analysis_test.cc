// The analysis plugins on the busybox Linux guest (make-linux-guest,
// hplinux=analysis), each against an oracle this project did not write:
// binutils' `nm` for where hpana's functions are, hpana's source for what
// calls what (tests/linux/hpana.c), and the guest kernel's own /proc.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>
#include <sstream>
#include <string>
#include <vector>

#include "run.h"

namespace {

using hypanda::test::build_root;
using hypanda::test::debug_exit_status;
using hypanda::test::describe;
using hypanda::test::emulator;
using hypanda::test::hex;
using hypanda::test::only_line;
using hypanda::test::read_file;
using hypanda::test::run;

constexpr std::chrono::seconds kLimit{600};

std::string guest_dir() { return build_root() + "/tests/linux"; }

struct Symbol {
    uint64_t address = 0;
    uint64_t size = 0;
    bool contains(uint64_t a) const { return a >= address && a < address + size; }
};

// hpana's function symbols as binutils' nm lists them ("addr size T name").
std::map<std::string, Symbol> hpana_symbols() {
    const auto r = run({"nm", "-S", "--defined-only", guest_dir() + "/hpana"}, std::chrono::seconds(60));
    std::map<std::string, Symbol> out;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string address, size, type, name;
        if (fields >> address >> size >> type >> name && (type == "T" || type == "t")) {
            out[name] = Symbol{std::stoull(address, nullptr, 16), std::stoull(size, nullptr, 16)};
        }
    }
    return out;
}

// Boots the guest in analysis mode with `panda` plugins; the plugins in
// build/tests/plugins are found too.
hypanda::test::RunResult boot(const std::string& panda) {
    const std::string dir = guest_dir();
    hypanda::test::Child child(
        {emulator(), "-accel", "tcg", "-display", "none", "-serial", "stdio", "-monitor", "none",
         "-no-reboot", "-m", "512", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel",
         dir + "/vmlinuz", "-initrd", dir + "/initramfs.cpio.gz", "-append",
         "console=ttyS0 panic=-1 hplinux=analysis", "-panda", panda},
        {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
    return child.wait(kLimit);
}

std::vector<uint64_t> numbers_after(const std::string& text, const std::string& prefix) {
    std::vector<uint64_t> out;
    std::istringstream in(only_line(text, prefix).substr(prefix.size()));
    std::string word;
    while (in >> word) {
        out.push_back(std::stoull(word, nullptr, 0));
    }
    return out;
}

// `hpana recurse 5`: main -> cmd_recurse -> hpana_recurse x6 -> hpana_bottom.
// At hpana_bottom's first instruction (hooked through the hooks plugin),
// callstack_instr's shadow stack must hold exactly those frames, and
// hpana_recurse must have been called and returned from six times.
TEST(LinuxAnalysis, CallstackInstrMatchesTheProgramsCallChain) {
    auto sym = hpana_symbols();
    for (const char* name : {"main", "cmd_recurse", "hpana_recurse", "hpana_bottom"}) {
        ASSERT_TRUE(sym.count(name)) << "nm lists no " << name << " in " << guest_dir() << "/hpana";
    }
    hypanda::test::TempDir tmp;
    const auto r = boot("callprobe:at=" + hex(sym["hpana_bottom"].address) +
                        ",func=" + hex(sym["hpana_recurse"].address) + ",output=" + tmp.file("probe"));
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(only_line(r.out, "HPANA recurse "), "HPANA recurse 5 6");
    const std::string probe = read_file(tmp.file("probe"));

    const auto hook = numbers_after(probe, "hook ");
    ASSERT_EQ(hook.size(), 2u) << probe;
    EXPECT_EQ(hook[1], 1u) << "hpana_bottom runs once";

    const int depth = 6;  // hpana_recurse(5) .. hpana_recurse(0)
    const auto functions = numbers_after(probe, "functions");
    ASSERT_GE(functions.size(), size_t(depth + 3)) << probe;
    std::vector<uint64_t> expected = {sym["hpana_bottom"].address};
    expected.insert(expected.end(), depth, sym["hpana_recurse"].address);
    expected.push_back(sym["cmd_recurse"].address);
    expected.push_back(sym["main"].address);
    EXPECT_EQ(std::vector<uint64_t>(functions.begin(), functions.begin() + depth + 3), expected) << probe;

    // Return addresses: into hpana_recurse (the call of hpana_bottom, then
    // five recursive calls), then into cmd_recurse, then into main.
    const auto callers = numbers_after(probe, "callers");
    ASSERT_EQ(callers.size(), functions.size()) << probe;
    for (int i = 0; i < depth; i++) {
        EXPECT_TRUE(sym["hpana_recurse"].contains(callers[i])) << i << ": " << hex(callers[i]);
    }
    EXPECT_TRUE(sym["cmd_recurse"].contains(callers[depth])) << hex(callers[depth]);
    EXPECT_TRUE(sym["main"].contains(callers[depth + 1])) << hex(callers[depth + 1]);
    // The recursive calls all return to one place, the call of hpana_bottom
    // to another.
    for (int i = 2; i < depth; i++) {
        EXPECT_EQ(callers[i], callers[1]);
    }
    EXPECT_NE(callers[0], callers[1]);

    EXPECT_EQ(only_line(probe, "calls "), "calls 6 rets 6");
}

// What /proc/PID/stat calls a process, as osi reports it: the task's comm,
// which holds 15 characters. /proc shows kernel threads' full names
// (get_kthread_comm) and adds a kworker's current workqueue after a '-'
// (wq_worker_comm), both in fs/proc/array.c.
std::string comm_of(std::string proc_name) {
    if (proc_name.rfind("kworker/", 0) == 0 && proc_name.find('-') != std::string::npos) {
        proc_name.resize(proc_name.find('-'));
    }
    return proc_name.substr(0, 15);
}

// `hpana osi` prints the guest's /proc (every process's pid, ppid and name,
// and its own /proc/self/maps), then calls hpana_osi_marker, where the
// osiprobe plugin asks osi (with osi_linux reading the kernel through its
// BTF) the same questions. The answers must be the same.
TEST(LinuxAnalysis, OsiMatchesProc) {
    auto sym = hpana_symbols();
    ASSERT_TRUE(sym.count("hpana_osi_marker"));
    hypanda::test::TempDir tmp;
    const auto r = boot("osiprobe:at=" + hex(sym["hpana_osi_marker"].address) + ",output=" + tmp.file("osi"));
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    const std::string osi = read_file(tmp.file("osi"));
    ASSERT_FALSE(osi.empty()) << "the marker was not reached\n" << describe(r);

    // Processes: (pid, ppid, name); osi lists init_task (pid 0) too, which
    // /proc does not.
    using Process = std::tuple<long, long, std::string>;
    std::vector<Process> proc, seen;
    std::string hpana_pid;
    for (const auto& line : hypanda::test::lines_starting_with(r.out, "HPANA proc ")) {
        std::istringstream in(line.substr(11));
        long pid, ppid;
        std::string name;
        in >> pid >> ppid;
        std::getline(in >> std::ws, name);
        proc.emplace_back(pid, ppid, comm_of(name));
        if (name == "hpana") {
            hpana_pid = std::to_string(pid);
        }
    }
    for (const auto& line : hypanda::test::lines_starting_with(osi, "proc ")) {
        std::istringstream in(line.substr(5));
        long pid, ppid;
        std::string name;
        in >> pid >> ppid;
        std::getline(in >> std::ws, name);
        if (pid != 0) {
            seen.emplace_back(pid, ppid, name);
        }
    }
    std::sort(proc.begin(), proc.end());
    std::sort(seen.begin(), seen.end());
    EXPECT_GT(proc.size(), 20u);  // init, kthreadd and its kernel threads, hpana
    EXPECT_EQ(seen, proc);
    ASSERT_FALSE(hpana_pid.empty());
    EXPECT_EQ(only_line(osi, "current "), "current " + hpana_pid + " 1 hpana");
    EXPECT_EQ(only_line(osi, "thread "), "thread " + hpana_pid + " " + hpana_pid);

    // Mappings, in /proc/PID/maps's notation without device and inode:
    // "start-end perms offset path".
    std::vector<std::string> maps, mapped;
    for (const auto& line : hypanda::test::lines_starting_with(r.out, "HPANA map ")) {
        std::istringstream in(line.substr(10));
        std::string range, perms, offset, device, inode, path;
        in >> range >> perms >> offset >> device >> inode;
        std::getline(in >> std::ws, path);
        maps.push_back(range + " " + perms + " " + offset + " " + path);
    }
    for (const auto& line : hypanda::test::lines_starting_with(osi, "map ")) {
        std::string rest = line.substr(4);
        while (!rest.empty() && rest.back() == ' ') {
            rest.pop_back();  // an anonymous mapping's empty path
        }
        mapped.push_back(rest);
    }
    for (auto& m : maps) {
        while (!m.empty() && m.back() == ' ') {
            m.pop_back();
        }
    }
    EXPECT_GE(maps.size(), 8u);  // hpana's segments, heap, stack, vvar, vdso
    EXPECT_EQ(mapped, maps);
}

}  // namespace
