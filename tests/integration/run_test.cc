// `hypanda run` and the subcommands on its run folder: a local guest with
// no libvirt, driven over QMP (tools/hypanda/run.cc, docs/cli.md).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "elf_image.h"
#include "expected.h"
#include "model.h"
#include "run.h"

using namespace hypanda::test;
using nlohmann::json;

namespace {

constexpr auto kLimit = std::chrono::seconds(120);

RunResult hypanda_cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {build_root() + "/bin/hypanda"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, kLimit);
}

std::vector<std::string> guest(const std::string& dir, const std::string& append,
                               const std::vector<std::string>& more = {}) {
    std::vector<std::string> args = {"run", dir, "--kernel", build_root() + "/tests/guest/hptest.elf", "--append",
                                     append, "--emulator-arg=-device",
                                     "--emulator-arg=isa-debug-exit,iobase=0xf4,iosize=4"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

std::string count_loop_range() {
    const uint64_t start = guest_image().symbols.at("hp_count_loop");
    return "start=" + hex(start) + ",end=" + hex(guest_image().next_symbol_after(start));
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

}  // namespace

// In the foreground: the emulator's own exit status; files in the run
// folder, relative plugin outputs included.
TEST(HypandaRun, ForegroundRunKeepsItsFilesInTheRunFolder) {
    TempDir tmp;
    const std::string dir = tmp.file("run");
    RunResult r = hypanda_cli(guest(dir, "count 1000", {"--plugin", "insn_count:" + count_loop_range() + ",output=n.txt"}));
    EXPECT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(read_file(dir + "/serial.log"), "RESULT "),
              std::vector<std::string>{result_line("count", expected_count(1000))});
    EXPECT_EQ(read_file(dir + "/n.txt"), "insn_count: " + std::to_string(hp_count_insns(1000)) + " instructions\n");
    const uint64_t start = guest_image().symbols.at("hp_count_loop");
    const std::string kernel = build_root() + "/tests/guest/hptest.elf";
    std::string expected;
    for (const std::string& a :
         {build_root() + "/bin/hypanda-system-x86_64", std::string("-name"), std::string("hypanda-run"),
          std::string("-display"), std::string("none"), std::string("-monitor"), std::string("none"),
          std::string("-serial"), std::string("file:serial.log"), std::string("-qmp"),
          std::string("unix:qmp.sock,server=on,wait=off"), std::string("-m"), std::string("128"),
          std::string("-accel"), std::string("tcg"), std::string("-kernel"), kernel, std::string("-append"),
          std::string("count 1000"), std::string("-panda-arg"), "insn_count:start=" + hex(start),
          std::string("-panda-arg"), "insn_count:end=" + hex(guest_image().next_symbol_after(start)),
          std::string("-panda-arg"), std::string("insn_count:output=n.txt"), std::string("-panda"),
          std::string("insn_count"), std::string("-device"), std::string("isa-debug-exit,iobase=0xf4,iosize=4")}) {
        expected += a + "\n";
    }
    EXPECT_EQ(read_file(dir + "/command-line"), expected);
    EXPECT_FALSE(exists(dir + "/qmp.sock"));
    r = hypanda_cli({"plugins", dir});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: QMP socket " + dir + "/qmp.sock: cannot connect: No such file or directory (has the "
                     "guest ended?)\n");
}

// A disk image (--disk: IDE, raw), and the tool invoked by a relative path:
// the emulator it finds beside itself still starts from the run folder.
TEST(HypandaRun, DiskAndRelativeInvocation) {
    TempDir tmp;
    const std::string dir = tmp.file("run");
    const std::vector<uint8_t> image = make_disk_image(64 * 512, 11);
    std::ofstream(tmp.file("disk.img"), std::ios::binary)
        .write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size()));
    std::vector<std::string> args = {"env", "-C", build_root(), "bin/hypanda"};
    for (const std::string& a : guest(dir, "disk 20 diskdma 3", {"--disk", tmp.file("disk.img")})) {
        args.push_back(a);
    }
    RunResult r = run(args, kLimit);
    EXPECT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(read_file(dir + "/serial.log"), "RESULT "),
              (std::vector<std::string>{result_line("disk", expected_disk(image, 20)),
                                        result_line("diskdma", expected_disk(image, 3))}));
}

// Detached and paused: plugins, a recording and the end, all over QMP;
// the recording (a relative name: in the run folder) replays.
TEST(HypandaRun, DetachedRunIsDrivenBySubcommands) {
    TempDir tmp;
    const std::string dir = tmp.file("run");
    RunResult r = hypanda_cli(guest(dir, "count 1000000000000", {"--detach", "--paused", "--json"}));
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    json started = json::parse(r.out);
    EXPECT_EQ(started["run"], dir);
    EXPECT_EQ(started["qmp"], dir + "/qmp.sock");
    EXPECT_GT(started["pid"].get<int>(), 0);
    const std::string who = "run folder " + dir;

    r = hypanda_cli(guest(dir, "count 1"));
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: run folder " + dir + " is in use by a running guest ('hypanda stop " + dir +
                         "' ends it)\n");
    r = hypanda_cli({"plugins", dir, "load", "insn_count:output=n.txt"});
    EXPECT_EQ(r.out, who + ": loaded panda_insn_count.so as plugin 0\n") << describe(r);
    // ACTION may come first (as with -c URI before a domain's name).
    r = hypanda_cli({"plugins", "list", dir, "--json"});
    EXPECT_EQ(json::parse(r.out).at("plugins").size(), 1u) << describe(r);
    r = hypanda_cli({"plugins", "frob", dir});
    EXPECT_EQ(r.exit_status, 2);
    EXPECT_EQ(r.err, "hypanda: plugins: '" + dir + "' is not an action (list, load, unload); the order is 'hypanda "
                     "plugins TARGET ACTION ...' (ACTION TARGET works too)\n");
    r = hypanda_cli({"plugins", dir, "load", "nosuch"});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: " + who + ": plugin 'nosuch': not found; looked for " + build_root() +
                         "/bin/panda_plugins/panda_nosuch.so, " + build_root() +
                         "/bin/../lib/hypanda/panda_plugins/panda_nosuch.so (set PANDA_PLUGIN_DIR to add folders)\n");
    r = hypanda_cli({"record", dir, "start", "rec"});
    EXPECT_EQ(r.out, who + ": recording " + dir + "/rec started\n") << describe(r);
    r = hypanda_cli({"resume", dir});
    EXPECT_EQ(r.out, who + ": running\n") << describe(r);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    r = hypanda_cli({"record", dir, "stop", "--json"});
    EXPECT_EQ(json::parse(r.out), (json{{"target", who}, {"recording", "ended"}})) << describe(r);
    r = hypanda_cli({"plugins", dir, "unload", "0"});
    EXPECT_EQ(r.out, who + ": unloaded plugin 0\n") << describe(r);
    EXPECT_EQ(read_file(dir + "/n.txt").rfind("insn_count: ", 0), 0u);
    r = hypanda_cli({"stop", dir});
    EXPECT_EQ(r.out, who + ": stopped\n") << describe(r);

    const uint64_t n = json::parse(read_file(dir + "/rec/manifest.json")).at("instructions").get<uint64_t>();
    EXPECT_GT(n, 0u);
    r = hypanda_cli({"replay", dir + "/rec", "--verify"});
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_EQ(r.out.rfind(dir + "/rec: verified: " + std::to_string(n) + " instructions, RAM hash ", 0), 0u)
        << describe(r);
}

// Bad input: one line naming what is wrong; status 2 for the command line,
// 1 for work that failed.
TEST(HypandaRun, BadInputIsOneLine) {
    TempDir tmp;
    const std::string dir = tmp.file("run");
    RunResult r = hypanda_cli({"run", dir});
    EXPECT_EQ(r.exit_status, 2);
    EXPECT_EQ(r.err, "hypanda: run: give --kernel or --disk\n");
    r = hypanda_cli(guest(dir, "count 1", {"--plugin", ":x"}));
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: --plugin ':x': no plugin name before ':'\n");
    r = hypanda_cli(guest(dir, "count 1", {"--plugin", "insn_count:limit"}));
    EXPECT_EQ(r.err, "hypanda: --plugin 'insn_count:limit': 'limit' is not key=value\n");
    r = hypanda_cli(guest(dir, "count 1", {"--hypercall", "switch+exec"}));
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: options: <hypanda:hypercall>: allow='switch+exec': expected switch, record or none, "
                     "joined with '+'\n");
    r = hypanda_cli(guest(dir, "count 1", {"--start", "tcg"}));
    EXPECT_EQ(r.err, "hypanda: --start needs --hybrid\n");
    r = hypanda_cli(guest(dir, "count 1", {"--hybrid", "--accel", "tcg"}));
    EXPECT_EQ(r.err, "hypanda: --hybrid runs under KVM first; it takes no --accel tcg\n");
    r = hypanda_cli(guest(dir, "count 1", {"--plugin", "nosuch", "--detach"}));
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: run folder " + dir + ": the emulator ended (status 1) before its QMP socket opened: "
                     "hypanda-system-x86_64: plugin 'nosuch': not found; looked for " + build_root() +
                     "/bin/panda_plugins/panda_nosuch.so, " + build_root() +
                     "/bin/../lib/hypanda/panda_plugins/panda_nosuch.so (set PANDA_PLUGIN_DIR to add folders)\n");
    r = hypanda_cli({"switch", "nosuch/", "--to", "tcg"});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: run folder nosuch/: not one ('hypanda run' makes them)\n");
    r = hypanda_cli({"switch", dir, "--to", "gpu"});
    EXPECT_EQ(r.exit_status, 2);
    r = hypanda_cli({"plugins", dir, "unload"});
    EXPECT_EQ(r.exit_status, 2);
    EXPECT_EQ(r.err, "hypanda: plugins unload: give the plugin\n");
}
