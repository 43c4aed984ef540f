// Plugins in the emulator, through every route: -panda, -panda-plugin,
// -panda-arg, HMP and QMP monitors on a socket, and a plugin built outside
// the tree with pkg-config. Effects are asserted exactly against the test
// guest: instruction counts against its formula, system calls against its
// model, and the guest's own code bytes.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>
#include <signal.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>

#include "elf_image.h"
#include "expected.h"
#include "model.h"
#include "monitor.h"
#include "run.h"

namespace hypanda::test {
namespace {

constexpr std::chrono::seconds kLimit{60};
const std::vector<std::string> kIntelCpu = {"-cpu", "qemu64,vendor=GenuineIntel"};

std::string test_plugin_dir() { return build_root() + "/tests/plugins"; }

// insn_count arguments that count exactly hp_count_loop's instructions.
std::string count_loop_range() {
    uint64_t start = guest_image().symbols.at("hp_count_loop");
    uint64_t end = guest_image().next_symbol_after(start);
    return "start=" + hex(start) + ",end=" + hex(end);
}

std::string insn_count_line(uint64_t n) {
    return "insn_count: " + std::to_string(n) + " instructions\n";
}

TEST(PluginCommandLine, InsnCountEqualsTheCountLoopFormula) {
    TempDir dir;
    RunResult r = run(guest_args("count 12345",
                                 {"-panda", "insn_count:" + count_loop_range() + ",output=" + dir.file("n")}),
                      kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT"),
              std::vector<std::string>{result_line("count", expected_count(12345))});
    EXPECT_EQ(read_file(dir.file("n")), insn_count_line(hp_count_insns(12345)));
    EXPECT_EQ(hp_count_insns(12345), 37038u);
}

TEST(PluginCommandLine, PandaArgMergesWithPandaAndLimitStopsCounting) {
    TempDir dir;
    RunResult r = run(guest_args("count 1000", {"-panda", "insn_count:" + count_loop_range(),
                                                "-panda-arg", "insn_count:limit=100",
                                                "-panda-arg", "insn_count:output=" + dir.file("n")}),
                      kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(read_file(dir.file("n")), insn_count_line(100));
}

TEST(PluginCommandLine, SyscallsListsExactlyTheGuestsSystemCalls) {
    TempDir dir;
    const uint64_t n = 10;
    RunResult r = run(guest_args("user " + std::to_string(n), [&] {
                          auto a = kIntelCpu;
                          a.insert(a.end(), {"-panda", "syscalls:file=" + dir.file("sc")});
                          return a;
                      }()),
                      kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT"),
              std::vector<std::string>{result_line("user", expected_user(n))});

    std::vector<std::string> lines = lines_starting_with(read_file(dir.file("sc")), "PC=");
    ASSERT_EQ(lines.size(), n + 1) << read_file(dir.file("sc"));
    // Each mechanism's instruction sits at one PC; the exit call at another.
    const std::vector<uint8_t> opcodes[3] = {{0x0f, 0x05}, {0xcd, 0x80}, {0x0f, 0x34}};
    uint64_t pcs[3] = {0, 0, 0};
    for (uint64_t i = 0; i <= n; i++) {
        uint64_t pc = 0, nr = 0;
        ASSERT_EQ(std::sscanf(lines[i].c_str(), "PC=%16" SCNx64 ", SYSCALL=%16" SCNx64, &pc, &nr), 2)
            << lines[i];
        char want[64];
        std::snprintf(want, sizeof want, "PC=%016" PRIx64 ", SYSCALL=%016" PRIx64, pc,
                      i < n ? 1 + i % 4 : uint64_t{HP_SYS_EXIT});
        EXPECT_EQ(lines[i], want) << "call " << i;
        int mech = i < n ? static_cast<int>(i % 3) : 0;
        EXPECT_EQ(guest_image().bytes_at(pc, 2), opcodes[mech]) << "call " << i << " at " << hex(pc);
        if (i < n) {
            if (pcs[mech] == 0) {
                pcs[mech] = pc;
            }
            EXPECT_EQ(pc, pcs[mech]) << "call " << i;
        }
    }
}

TEST(PluginCommandLine, LoadsTheManualsExampleWithItsArguments) {
    Child child(guest_args("count 10", {"-panda", "textfinder;asidstory;keyfind:base=dir,foo=bar"}),
                {"PANDA_PLUGIN_DIR=" + test_plugin_dir()});
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "standin"),
              (std::vector<std::string>{
                  "standin textfinder: init", "standin asidstory: init",
                  "standin keyfind: init base=dir foo=bar",
                  // uninit_plugin at exit, newest first
                  "standin keyfind: uninit", "standin asidstory: uninit",
                  "standin textfinder: uninit"}));
}

// Command-line mistakes: one error line naming the plugin and the problem,
// and the emulator exits before the guest runs.
void expect_refused(const std::vector<std::string>& options, const std::string& error) {
    Child child(guest_args("count 10", options), {"PANDA_PLUGIN_DIR=" + test_plugin_dir()});
    RunResult r = child.wait(kLimit);
    EXPECT_EQ(r.exit_status, 1) << describe(r);
    EXPECT_TRUE(lines_starting_with(r.out, "RESULT").empty()) << describe(r);
    EXPECT_EQ(lines_starting_with(r.err, "hypanda-system-x86_64: "),
              std::vector<std::string>{"hypanda-system-x86_64: " + error})
        << describe(r);
}

TEST(PluginCommandLine, RefusesBadInputBeforeTheGuestStarts) {
    const std::string bin_plugins = build_root() + "/bin/panda_plugins";
    expect_refused({"-panda", "nosuch"},
                   "plugin 'nosuch': not found; looked for " + bin_plugins + "/panda_nosuch.so, " + build_root() +
                       "/bin/../lib/hypanda/panda_plugins/panda_nosuch.so, " +
                       test_plugin_dir() + "/panda_nosuch.so (set PANDA_PLUGIN_DIR to add folders)");
    expect_refused({"-panda", "sample;;insn_count"},
                   "-panda sample;;insn_count: empty plugin name in 'sample;;insn_count'");
    expect_refused({"-panda", "sample", "-panda-arg", "ghost:k=v"},
                   "-panda-arg: arguments for plugin 'ghost', which is not loaded (loaded: sample)");
    expect_refused({"-panda-arg", "nokey"}, "-panda-arg nokey: 'nokey' is not plugin:key=value");
    TempDir dir;
    std::ofstream(dir.file("panda_text.so")) << std::string(4096, 'x');
    expect_refused({"-panda-plugin", dir.file("panda_text.so")},
                   "plugin 'text': cannot load " + dir.file("panda_text.so") + ": " +
                       dir.file("panda_text.so") + ": invalid ELF header");
    expect_refused({"-panda-plugin", test_plugin_dir() + "/panda_badabi.so"},
                   "plugin 'badabi': built for SDK ABI 99, this emulator serves ABI 1; rebuild it against this SDK");
    expect_refused({"-panda-plugin", test_plugin_dir() + "/panda_noinit.so"},
                   "plugin 'noinit': " + test_plugin_dir() + "/panda_noinit.so has no init_plugin function");
    expect_refused({"-panda", "failinit"}, "plugin 'failinit': init_plugin returned false; plugin unloaded");
}

TEST(PluginCommandLine, UnparsableTypedArgumentNamesPluginAndKey) {
    Child child(guest_args("count 10", {"-panda", "insn_count:limit=lots"}));
    RunResult r = child.wait(kLimit);
    EXPECT_EQ(r.exit_status, 1) << describe(r);
    EXPECT_EQ(lines_starting_with(r.err, "hypanda-system-x86_64: "),
              (std::vector<std::string>{
                  "hypanda-system-x86_64: plugin 'insn_count': argument 'limit': 'lots' is not an "
                  "unsigned number (limit: stop after this many instructions, 0 for none)",
                  "hypanda-system-x86_64: plugin 'insn_count': not loaded: its arguments are wrong (see above)"}))
        << describe(r);
}

// A guest paused at start (-S) with an HMP monitor on a socket.
struct PausedGuest {
    TempDir dir;
    Child child;
    Hmp hmp;
    explicit PausedGuest(const std::string& append, const std::vector<std::string>& extra = {})
        : child(guest_args(append, [&] {
                    std::vector<std::string> a = {"-S", "-monitor",
                                                  "unix:" + dir.file("hmp") + ",server=on,wait=off"};
                    a.insert(a.end(), extra.begin(), extra.end());
                    return a;
                }()),
                {"PANDA_PLUGIN_DIR=" + std::string(TEST_PLUGIN_DIR)}),
          hmp(dir.file("hmp")) {}
};

TEST(PluginMonitor, LoadListCommandAndUnload) {
    PausedGuest g("count 100");
    ASSERT_TRUE(g.hmp.connected());
    EXPECT_EQ(g.hmp.command("list_plugins"), "idx     name                    addr\n");
    EXPECT_EQ(g.hmp.command("load_plugin sample"), "loaded panda_sample.so as plugin 0\n");
    EXPECT_EQ(g.hmp.command("load_plugin textfinder a=1,b=x\\,y"),
              "loaded panda_textfinder.so as plugin 1\n");
    std::string list = g.hmp.command("list_plugins");
    EXPECT_EQ(lines_starting_with(list, "0       panda_sample.so         0x").size(), 1u) << list;
    EXPECT_EQ(lines_starting_with(list, "1       panda_textfinder.so     0x").size(), 1u) << list;
    EXPECT_EQ(g.hmp.command("plugin_cmd sample_stats"), "sample: 0 blocks executed\n");
    EXPECT_EQ(g.hmp.command("plugin_cmd \"textfinder\""), "standin textfinder: here\n");
    EXPECT_EQ(g.hmp.command("unload_plugin 0"), "");
    EXPECT_EQ(g.hmp.command("unload_plugin 0"),
              "error: unload_plugin: no plugin with index 0; loaded indexes: 1\n");
    EXPECT_EQ(g.hmp.command("load_plugin nosuch"),
              "error: plugin 'nosuch': not found; looked for " + build_root() +
                  "/bin/panda_plugins/panda_nosuch.so, " + build_root() +
                  "/bin/../lib/hypanda/panda_plugins/panda_nosuch.so, " + TEST_PLUGIN_DIR +
                  "/panda_nosuch.so (set PANDA_PLUGIN_DIR to add folders)\n");
    EXPECT_EQ(g.hmp.command("load_plugin insn_count limit=-3"),
              "plugin 'insn_count': argument 'limit': '-3' is not an unsigned "
              "number (limit: stop after this many instructions, 0 for none)\n"
              "error: plugin 'insn_count': not loaded: its arguments are wrong (see above)\n");
    g.hmp.command("quit");
    RunResult r = g.child.wait(kLimit);
    EXPECT_EQ(lines_starting_with(r.out, "sample:"),
              std::vector<std::string>{"sample: unloaded after 0 blocks"});
    EXPECT_EQ(lines_starting_with(r.out, "standin"),
              (std::vector<std::string>{"standin textfinder: init a=1 b=x,y",
                                        "standin textfinder: uninit"}))
        << describe(r);
}

TEST(PluginMonitor, LoadingThroughTheMonitorCounts) {
    PausedGuest g("count 777");
    ASSERT_TRUE(g.hmp.connected());
    EXPECT_EQ(g.hmp.command("load_plugin insn_count " + count_loop_range() + ",output=" +
                            g.dir.file("n")),
              "loaded panda_insn_count.so as plugin 0\n");
    g.hmp.command("cont");
    RunResult r = g.child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(read_file(g.dir.file("n")), insn_count_line(hp_count_insns(777)));
}

TEST(PluginMonitor, DisabledPluginCountsNothingAndReenabledCountsAll) {
    PausedGuest off("count 500", {"-panda", "insn_count:" + count_loop_range() + ",output=" + std::string("/dev/null")});
    PausedGuest on("count 500");
    ASSERT_TRUE(off.hmp.connected());
    ASSERT_TRUE(on.hmp.connected());
    off.hmp.command("unload_plugin 0");
    off.hmp.command("load_plugin insn_count " + count_loop_range() + ",output=" + off.dir.file("n"));
    EXPECT_EQ(off.hmp.command("disable_plugin 1"), "");
    off.hmp.command("cont");

    on.hmp.command("load_plugin insn_count " + count_loop_range() + ",output=" + on.dir.file("n"));
    EXPECT_EQ(on.hmp.command("disable_plugin 0"), "");
    EXPECT_EQ(on.hmp.command("enable_plugin 0"), "");
    EXPECT_EQ(on.hmp.command("enable_plugin 9"),
              "error: enable_plugin: no plugin with index 9; loaded indexes: 0\n");
    on.hmp.command("cont");

    RunResult r_off = off.child.wait(kLimit);
    RunResult r_on = on.child.wait(kLimit);
    ASSERT_EQ(r_off.exit_status, debug_exit_status(0)) << describe(r_off);
    ASSERT_EQ(r_on.exit_status, debug_exit_status(0)) << describe(r_on);
    EXPECT_EQ(read_file(off.dir.file("n")), insn_count_line(0));
    EXPECT_EQ(read_file(on.dir.file("n")), insn_count_line(hp_count_insns(500)));
}

TEST(PluginMonitor, OnePluginManagesAnotherThroughTheSdk) {
    PausedGuest g("count 300", {"-panda", "manager"});
    ASSERT_TRUE(g.hmp.connected());
    const std::string insn_count = build_root() + "/bin/panda_plugins/panda_insn_count.so";
    EXPECT_EQ(g.hmp.command("plugin_cmd \"manager load " + insn_count + "\""),
              "manager: load " + insn_count + ": ok\n");
    EXPECT_EQ(g.hmp.command("plugin_cmd \"manager disable insn_count\""), "manager: disabled insn_count\n");
    EXPECT_EQ(g.hmp.command("plugin_cmd insn_count"), "");
    EXPECT_EQ(g.hmp.command("plugin_cmd \"manager enable insn_count\""), "manager: enabled insn_count\n");
    EXPECT_EQ(g.hmp.command("plugin_cmd insn_count"), "insn_count: 0 instructions\n");
    EXPECT_EQ(g.hmp.command("plugin_cmd \"manager unload insn_count\""), "manager: unloaded insn_count\n");
    EXPECT_EQ(lines_starting_with(g.hmp.command("list_plugins"), "1 ").size(), 0u);
    g.hmp.command("cont");
    RunResult r = g.child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    // insn_count's uninit_plugin ran at the unload, with the guest not yet started.
    EXPECT_EQ(lines_starting_with(r.out, "insn_count:"), std::vector<std::string>{"insn_count: 0 instructions"});
}

TEST(PluginLifecycle, UninitRunsOnSigterm) {
    PausedGuest g("count 10", {"-panda", "sample"});
    ASSERT_TRUE(g.hmp.connected());
    g.child.signal(SIGTERM);
    RunResult r = g.child.wait(kLimit);
    EXPECT_EQ(lines_starting_with(r.out, "sample:"), std::vector<std::string>{"sample: unloaded after 0 blocks"})
        << describe(r);
}

TEST(PluginQmp, SameOperationsWithStructuredReplies) {
    TempDir dir;
    Child child(guest_args("count 10", {"-S", "-qmp", "unix:" + dir.file("qmp") + ",server=on,wait=off"}),
                {"PANDA_PLUGIN_DIR=" + test_plugin_dir()});
    Qmp qmp(dir.file("qmp"));
    ASSERT_TRUE(qmp.connected());
    auto commands = qmp.execute("query-commands");
    int found = 0;
    for (const auto& c : commands["return"]) {
        std::string name = c["name"];
        found += name.rfind("panda-", 0) == 0;
    }
    EXPECT_EQ(found, 6);

    EXPECT_EQ(qmp.execute("panda-load-plugin", {{"path", "sample"}}),
              nlohmann::json({{"return", {{"index", 0}, {"name", "panda_sample.so"}}}}));
    EXPECT_EQ(qmp.execute("panda-load-plugin", {{"path", "typed"}, {"args", "n=3"}})["return"]["index"], 1);
    auto list = qmp.execute("panda-list-plugins")["return"];
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0]["name"], "panda_sample.so");
    EXPECT_EQ(list[0]["path"], build_root() + "/bin/panda_plugins/panda_sample.so");
    EXPECT_EQ(list[0]["enabled"], true);
    EXPECT_GT(list[0]["address"].get<uint64_t>(), 0u);
    EXPECT_EQ(list[1]["name"], "panda_typed.so");

    EXPECT_EQ(qmp.execute("panda-plugin-cmd", {{"cmd", "sample_stats"}}),
              nlohmann::json({{"return", {{"output", "sample: 0 blocks executed\n"}}}}));
    EXPECT_EQ(qmp.execute("panda-disable-plugin", {{"index", 0}}), nlohmann::json({{"return", nlohmann::json::object()}}));
    EXPECT_EQ(qmp.execute("panda-list-plugins")["return"][0]["enabled"], false);
    EXPECT_EQ(qmp.execute("panda-enable-plugin", {{"index", 0}}), nlohmann::json({{"return", nlohmann::json::object()}}));
    EXPECT_EQ(qmp.execute("panda-unload-plugin", {{"index", 1}}), nlohmann::json({{"return", nlohmann::json::object()}}));

    EXPECT_EQ(qmp.execute("panda-unload-plugin", {{"index", 5}})["error"]["desc"],
              "unload_plugin: no plugin with index 5; loaded indexes: 0");
    EXPECT_EQ(qmp.execute("panda-unload-plugin", {{"index", "zero"}})["error"]["desc"],
              "panda-unload-plugin: 'index' must be an integer");
    EXPECT_EQ(qmp.execute("panda-load-plugin", {{"path", "sample"}, {"color", "red"}})["error"]["desc"],
              "panda-load-plugin: unknown argument 'color'");
    EXPECT_EQ(qmp.execute("panda-load-plugin")["error"]["desc"], "panda-load-plugin: missing argument 'path'");
    EXPECT_EQ(qmp.execute("panda-load-plugin", {{"path", "failinit"}})["error"]["desc"],
              "plugin 'failinit': init_plugin returned false; plugin unloaded");

    qmp.execute("quit");
    RunResult r = child.wait(kLimit);
    EXPECT_EQ(lines_starting_with(r.out, "sample:"), std::vector<std::string>{"sample: unloaded after 0 blocks"})
        << describe(r);
}

TEST(PluginSdk, APluginBuiltOutsideTheTreeWithPkgConfigLoads) {
    TempDir dir;
    std::ofstream(dir.file("outside.c")) << R"(#include <stdio.h>
#include <panda/plugin.h>
static unsigned long blocks;
static int on_block(CPUState *cpu, TranslationBlock *tb) { (void)cpu; (void)tb; blocks++; return 0; }
bool init_plugin(void *self) {
    panda_cb cb;
    cb.before_block_exec = on_block;
    panda_register_callback(self, PANDA_CB_BEFORE_BLOCK_EXEC, cb);
    return true;
}
void uninit_plugin(void *self) { (void)self; printf("outside: counted %s\n", blocks > 0 ? "blocks" : "nothing"); }
)";
    std::string build = "cd " + dir.path() + " && export PKG_CONFIG_PATH=" + build_root() +
                        " && cc -shared -fPIC $(pkg-config --cflags panda-plugin) outside.c -o panda_outside.so";
    RunResult cc = run({"/bin/sh", "-c", build}, std::chrono::seconds(60));
    ASSERT_EQ(cc.exit_status, 0) << describe(cc);
    RunResult r = run(guest_args("count 10", {"-panda-plugin", dir.file("panda_outside.so")}), kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "outside:"), std::vector<std::string>{"outside: counted blocks"});
}

}  // namespace
}  // namespace hypanda::test
