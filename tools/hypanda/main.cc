// hypanda: the command-line tool around the emulator (docs/cli.md).
//
//   hypanda run DIR --kernel K [...]      a local guest, no libvirt; DIR is its run folder
//   hypanda domain create NAME [...]      a libvirt domain with analysis metadata
//   hypanda domain define FILE            the same from a domain XML of the user's
//   hypanda switch TARGET --to tcg|kvm    engine switch (hybrid mode)
//   hypanda record TARGET start NAME|stop begin or end a recording
//   hypanda plugins TARGET [list|load SPEC|unload NAME]
//   hypanda resume TARGET                 let a paused guest run
//   hypanda stop TARGET                   end the guest
//   hypanda info NAME / hypanda replay NAME [--plugin SPEC]...   recordings
//
// TARGET is a run folder (a path holding qmp.sock) or a libvirt domain name
// (libvirt at -c URI, default as virsh's). Exit status: 0 done, 1 the work
// failed (one "hypanda: ..." line on stderr says why), 2 the command line
// was wrong; `run` in the foreground exits with the emulator's status.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"

using namespace hypanda::cli;

namespace {

// The options `run` and `domain create` share.
void guest_options(CLI::App* app, GuestOptions* o) {
    app->add_option("--kernel", o->kernel, "a multiboot or Linux kernel to boot (-kernel)");
    app->add_option("--append", o->append, "the kernel's command line (-append)");
    app->add_option("--disk", o->disks, "a raw disk image (IDE); repeatable")->take_all()->allow_extra_args(false);
    app->add_option("--plugin", o->plugins, "a plugin, as name[:key=value,...]; repeatable")
        ->take_all()
        ->allow_extra_args(false);
    app->add_flag("--hybrid", o->hybrid, "hybrid mode: KVM first, TCG on demand (-hybrid on)");
    app->add_option("--start", o->start, "with --hybrid: the first engine")->check(CLI::IsMember({"kvm", "tcg"}));
    app->add_option("--hypercall", o->hypercall,
                    "add the guest hypercall device, allowing these classes: switch, record or none, joined with "
                    "'+'");
    app->add_option("--hypercall-record", o->hypercall_record,
                    "the recording the guest's hypercalls 3/4 bracket, inside the recordings folder");
    app->add_option("--cpu", o->cpu, "the CPU model and its properties, as -cpu takes them (e.g. "
                                     "qemu64,vendor=GenuineIntel)");
    app->add_option("--memory", o->memory_mib, "guest RAM in MiB (default 128)")->check(CLI::Range(1, 1 << 20));
    app->add_option("--emulator-arg", o->emulator_args, "one more emulator argument, passed as is; repeatable")
        ->take_all()
        ->allow_extra_args(false);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"hypanda: run, record, replay and analyse guests with Hypanda (docs/cli.md)", "hypanda"};
    app.require_subcommand(0, 1);
    bool version = false;
    app.add_flag("--version", version, "print the version and exit");
    Global g;
    g.argv0 = argv[0];
    auto reports = [&g](CLI::App* sub) { sub->add_flag("--json", g.json, "print JSON instead of text"); };
    auto uses_libvirt = [&g](CLI::App* sub) {
        sub->add_option("-c,--connect", g.uri, "libvirt connection URI, as virsh -c takes it");
    };
    // TARGET: run folder or domain.
    auto targeted = [&](CLI::App* sub, std::string* target) {
        sub->add_option("TARGET", *target, "a run folder ('hypanda run') or a libvirt domain's name")->required();
        reports(sub);
        uses_libvirt(sub);
    };

    std::string name;
    CLI::App* info = app.add_subcommand("info", "print a recording's manifest and log statistics, after checking it");
    info->add_option("NAME", name, "the recording's folder")->required();
    reports(info);

    std::vector<std::string> plugins;
    bool verify = false;
    CLI::App* replay = app.add_subcommand("replay", "replay a recording with plugins, checking it against its manifest");
    replay->add_option("NAME", name, "the recording's folder")->required();
    replay->add_option("--plugin", plugins, "a plugin to load, as -panda takes it: name[:key=value,...]; repeatable")
        ->take_all()
        ->allow_extra_args(false);
    replay->add_flag("--verify", verify,
                     "check the recording: its files, then a replay without plugins that must reach the recorded "
                     "end and RAM hash");
    reports(replay);

    RunOptions run_opts;
    CLI::App* run = app.add_subcommand("run", "run a guest locally (no libvirt), its files in the run folder DIR");
    run->add_option("DIR", run_opts.dir, "the run folder, made if missing")->required();
    guest_options(run, &run_opts.guest);
    run->add_option("--accel", run_opts.accel, "kvm or tcg (default: kvm with --hybrid, else tcg)")
        ->check(CLI::IsMember({"kvm", "tcg"}));
    run->add_flag("--detach", run_opts.detach, "return once the emulator's QMP socket answers");
    run->add_flag("--paused", run_opts.paused, "start with the vCPU stopped (-S); QMP 'cont' runs it");
    reports(run);

    CLI::App* domain = app.add_subcommand("domain", "libvirt domains with Hypanda's analysis metadata");
    domain->require_subcommand(1);
    CreateOptions create_opts;
    CLI::App* create = domain->add_subcommand("create", "define a libvirt domain running a kernel or disk with analysis");
    create->add_option("NAME", create_opts.name, "the domain's name")->required();
    guest_options(create, &create_opts.guest);
    create->add_option("--type", create_opts.type, "libvirt domain type (default: kvm with --hybrid, else qemu)")
        ->check(CLI::IsMember({"kvm", "qemu"}));
    create->add_option("--recordings", create_opts.recordings,
                       "absolute folder for recordings, made for the emulator's user at start");
    create->add_option("--serial", create_opts.serial_log, "a file for the guest's serial port");
    create->add_option("--emulator", create_opts.emulator, "the emulator (default: hypanda-system-x86_64 beside hypanda)");
    create->add_flag("--print", create_opts.print, "print the domain XML instead of defining it");
    reports(create);
    uses_libvirt(create);
    std::string file;
    CLI::App* define = domain->add_subcommand("define", "define a domain from XML with <hypanda:analysis> metadata, "
                                                        "writing its <qemu:commandline> from the metadata");
    define->add_option("FILE", file, "the domain XML")->required();
    reports(define);
    uses_libvirt(define);

    std::string start_name;
    bool start_paused = false;
    CLI::App* start = domain->add_subcommand("start", "start a defined domain (virsh start); a refusal by Hypanda's "
                                                      "libvirt hook is shown as its own line");
    start->add_option("NAME", start_name, "the domain's name")->required();
    start->add_flag("--paused", start_paused, "start with the vCPU stopped ('hypanda resume' runs it)");
    reports(start);
    uses_libvirt(start);

    std::string target, engine;
    CLI::App* sw = app.add_subcommand("switch", "switch a hybrid-mode guest's engine");
    targeted(sw, &target);
    sw->add_option("--to", engine, "tcg or kvm")->required()->check(CLI::IsMember({"tcg", "kvm"}));

    std::string action, rec;
    CLI::App* record = app.add_subcommand("record", "begin (start NAME) or end (stop) a recording");
    targeted(record, &target);
    record->add_option("ACTION", action, "start or stop")->required();
    record->add_option("NAME", rec, "start: the recording's folder; relative names go in the recordings folder");

    std::string what;
    CLI::App* plug = app.add_subcommand("plugins", "list, load or unload plugins in a running guest");
    targeted(plug, &target);
    action = "list";
    plug->add_option("ACTION", action, "list (default), load or unload");
    plug->add_option("PLUGIN", what, "load: name[:key=value,...]; unload: name or index");

    CLI::App* stop = app.add_subcommand("stop", "end a guest: quit a run, destroy a domain");
    targeted(stop, &target);
    CLI::App* resume = app.add_subcommand("resume", "let a paused guest run (run --paused, virsh start --paused)");
    targeted(resume, &target);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string msg = e.what();
        std::fprintf(stderr, "hypanda: %s (hypanda --help lists the commands)\n", msg.c_str());
        return kExitUsage;
    }
    auto usage = [](const std::string& msg) {
        std::fprintf(stderr, "hypanda: %s\n", msg.c_str());
        return kExitUsage;
    };
    if (version) {
        std::printf("hypanda %s\n", HYPANDA_VERSION);
        return kExitOk;
    }
    if (info->parsed()) {
        return cmd_info(name, g.json);
    }
    if (replay->parsed()) {
        return cmd_replay(argv[0], name, plugins, verify, g.json);
    }
    if (run->parsed()) {
        if (run_opts.guest.kernel.empty() && run_opts.guest.disks.empty()) {
            return usage("run: give --kernel or --disk");
        }
        return cmd_run(g, run_opts);
    }
    if (create->parsed()) {
        if (create_opts.guest.kernel.empty() && create_opts.guest.disks.empty()) {
            return usage("domain create: give --kernel or --disk");
        }
        return cmd_domain_create(g, create_opts);
    }
    if (define->parsed()) {
        return cmd_domain_define(g, file);
    }
    if (start->parsed()) {
        return cmd_domain_start(g, start_name, start_paused);
    }
    if (sw->parsed()) {
        return cmd_switch(g, target, engine);
    }
    // ACTION may come before TARGET too ("plugins list -c URI DOMAIN").
    auto order = [&](const char* command, std::initializer_list<std::string> actions) {
        auto is_action = [&](const std::string& w) {
            return std::find(actions.begin(), actions.end(), w) != actions.end();
        };
        if (!is_action(action) && is_action(target)) {
            std::swap(action, target);
        }
        if (is_action(action)) {
            return true;
        }
        std::string list;
        for (const std::string& a : actions) {
            list += (list.empty() ? "" : ", ") + a;
        }
        std::fprintf(stderr, "hypanda: %s: '%s' is not an action (%s); the order is 'hypanda %s TARGET ACTION ...' "
                             "(ACTION TARGET works too)\n",
                     command, action.c_str(), list.c_str(), command);
        return false;
    };
    if (record->parsed()) {
        if (!order("record", {"start", "stop"})) {
            return kExitUsage;
        }
        if (action == "start" && rec.empty()) {
            return usage("record start: give the recording's NAME");
        }
        if (action == "stop" && !rec.empty()) {
            return usage("record stop takes no NAME: it ends the recording in progress");
        }
        return cmd_record(g, target, action, rec);
    }
    if (plug->parsed()) {
        if (!order("plugins", {"list", "load", "unload"})) {
            return kExitUsage;
        }
        if (action != "list" && what.empty()) {
            return usage("plugins " + action + ": give the plugin");
        }
        if (action == "list" && !what.empty()) {
            return usage("plugins list takes no plugin");
        }
        return cmd_plugins(g, target, action, what);
    }
    if (stop->parsed() || resume->parsed()) {
        return cmd_stop(g, target, resume->parsed());
    }
    return usage("a command is required (hypanda --help lists them)");
}
