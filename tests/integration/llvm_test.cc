// The LLVM engine (docs/llvm.md) beyond the callback suite's LLVM run
// (callbacks-llvm, every callback test with every block on the JIT): the
// engine switched on and off every N blocks from a plugin callback gives
// the test guest's model results and QEMU's plugin API's counts, and the
// monitor's `llvm` command.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <map>
#include <thread>

#include "elf_image.h"
#include "expected.h"
#include "model.h"
#include "monitor.h"
#include "run.h"

namespace hypanda::test {
namespace {

constexpr std::chrono::seconds kLimit{300};

struct Probed {
    RunResult run;
    std::map<std::string, uint64_t> probe;
    std::map<std::string, uint64_t> qemu;
};

Probed probe_with_qemu_counter(const std::string& append, const std::string& probe_args) {
    TempDir dir;
    std::vector<std::string> extra = {
        "-cpu", "qemu64,vendor=GenuineIntel",
        "-panda", "probe:output=" + dir.file("probe") + "," + probe_args,
        "-plugin", build_root() + "/tests/qemu-plugins/libcounter.so,out=" + dir.file("qemu")};
    Child child(guest_args(append, extra), {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
    Probed p{child.wait(kLimit), {}, {}};
    p.probe = read_counts(dir.file("probe"));
    p.qemu = read_counts(dir.file("qemu"));
    return p;
}

struct Workload {
    const char* append;
    std::string result;  // the model's RESULT line
};

class LlvmSwitching : public testing::TestWithParam<Workload> {};

// LLVM mode turned over at every 150000th block start, from the probe's
// before_block_exec: each switch waits for the block to end, flushes, and
// the next blocks are translated for the other engine. About 18 switches
// per run, so both engines run many stretches of each workload.
TEST_P(LlvmSwitching, OnAndOffEveryNBlocksGivesTheModelAndQemusCounts) {
    const Workload& w = GetParam();
    const uint64_t every = 150000;
    Probed p = probe_with_qemu_counter(w.append, "cbs=bbe+insn+rst,icount=1,llvm_every=" + std::to_string(every));
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    EXPECT_EQ(lines_starting_with(p.run.out, "RESULT"), std::vector<std::string>{w.result});
    EXPECT_EQ(p.probe["bbe"], p.qemu["blocks"]);
    EXPECT_EQ(p.probe["insn"], p.qemu["insns"]);
    EXPECT_EQ(p.probe["icount_mismatch"], 0u);
    EXPECT_EQ(p.probe["icount_checked"], p.probe["bbe"]);
    // Both engines ran: the blocks seen in LLVM mode are about half.
    EXPECT_EQ(p.probe["llvm_requests"], p.probe["llvm_blocks"] / every);
    EXPECT_GT(p.probe["llvm_requests"], 10u);
    EXPECT_GT(p.probe["llvm_bbe"], p.probe["llvm_blocks"] / 4);
    EXPECT_LT(p.probe["llvm_bbe"], p.probe["llvm_blocks"] * 3 / 4);
    EXPECT_EQ(p.run.err, "");
}

INSTANTIATE_TEST_SUITE_P(
    Workloads, LlvmSwitching,
    testing::Values(Workload{"count 20000", result_line("count", expected_count(20000))},
                    Workload{"mem 20000", result_line("mem", expected_mem(20000))},
                    Workload{"user 300", result_line("user", expected_user(300))},
                    Workload{"fault 50", result_line("fault", expected_fault(50))},
                    Workload{"cross 100", result_line("cross", expected_cross(100))}));

// The llvmcount plugin's pass (llvm_init) counts the guest memory accesses
// the lifted code makes; in the same run, the memory callbacks count the
// instructions' own accesses. `where=calls` instruments the blocks' calls to
// the softmmu load/store helpers; `where=bodies` instruments the helpers'
// own bodies, which the pass sees only with the helpers in the JIT.
struct PassCase {
    const char* where;
    bool helpers;
    bool sees_accesses;
};

class LlvmPasses : public testing::TestWithParam<PassCase> {};

TEST_P(LlvmPasses, ACountingPassAgreesWithTheMemoryCallbacks) {
    const PassCase& c = GetParam();
    TempDir dir;
    std::vector<std::string> extra = {
        "-cpu", "qemu64,vendor=GenuineIntel",
        "-panda", "probe:cbs=vmem,llvm=1,llvm_helpers=" + std::string(c.helpers ? "1" : "0") +
                      ",output=" + dir.file("probe"),
        "-panda", "llvmcount:where=" + std::string(c.where) + ",output=" + dir.file("pass")};
    Child child(guest_args("mem 20000", extra), {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT"),
              std::vector<std::string>{result_line("mem", expected_mem(20000))});
    EXPECT_EQ(r.err, "");
    auto probe = read_counts(dir.file("probe"));
    auto pass = read_counts(dir.file("pass"));
    ASSERT_GT(probe["mem_insn_reads"], 100000u);
    ASSERT_GT(probe["mem_insn_writes"], 100000u);
    if (c.sees_accesses) {
        EXPECT_EQ(pass["loads"], probe["mem_insn_reads"]);
        EXPECT_EQ(pass["stores"], probe["mem_insn_writes"]);
    } else {
        EXPECT_EQ(pass["loads"], 0u);
        EXPECT_EQ(pass["stores"], 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(Where, LlvmPasses,
                         testing::Values(PassCase{"calls", false, true}, PassCase{"calls", true, true},
                                         PassCase{"bodies", true, true}, PassCase{"bodies", false, false}));

// A guest paused at start (-S) with an HMP monitor on a socket.
struct PausedGuest {
    TempDir dir;
    Child child;
    Hmp hmp;
    explicit PausedGuest(const std::string& append, const std::vector<std::string>& extra)
        : child(guest_args(append, [&] {
                    std::vector<std::string> a = {"-S", "-monitor",
                                                  "unix:" + dir.file("hmp") + ",server=on,wait=off"};
                    a.insert(a.end(), extra.begin(), extra.end());
                    return a;
                }()),
                {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"}),
          hmp(dir.file("hmp")) {}
};

TEST(LlvmMonitor, TurnsTheEngineOnBeforeTheGuestRunsAndReportsIt) {
    TempDir out;
    PausedGuest g("count 20000", {"-panda", "probe:llvm_count=1,output=" + out.file("probe")});
    ASSERT_TRUE(g.hmp.connected());
    EXPECT_EQ(g.hmp.command("llvm"),
              "LLVM mode off; 0 blocks compiled in 0.000 s (0.0 us per block), 0 not liftable, 0 flushes\n");
    EXPECT_EQ(g.hmp.command("llvm sometimes"), "error: llvm takes on or off, not 'sometimes'\n");
    EXPECT_EQ(g.hmp.command("llvm on"), "LLVM mode on from the next block\n");
    g.hmp.command("cont");
    RunResult r = g.child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT"),
              std::vector<std::string>{result_line("count", expected_count(20000))});
    auto probe = read_counts(out.file("probe"));
    EXPECT_GT(probe["llvm_blocks"], 100000u);
    EXPECT_EQ(probe["llvm_bbe"], probe["llvm_blocks"]);
}

TEST(LlvmPasses, APluginWithPassesCanBeLoadedAndUnloadedWhileTheGuestRuns) {
    TempDir out;
    const uint64_t n = 300000000;
    PausedGuest g("count " + std::to_string(n), {"-panda", "probe:llvm=1,llvm_helpers=1,output=" + out.file("probe")});
    ASSERT_TRUE(g.hmp.connected());
    EXPECT_EQ(g.hmp.command("load_plugin llvmcount output=" + out.file("pass")),
              "loaded panda_llvmcount.so as plugin 1\n");
    g.hmp.command("cont");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(g.hmp.command("unload_plugin 1"), "");
    RunResult r = g.child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT"), std::vector<std::string>{result_line("count", expected_count(n))});
    EXPECT_EQ(r.err, "");
    auto pass = read_counts(out.file("pass"));
    EXPECT_GT(pass["blocks_seen"], 0u);
}

TEST(LlvmMonitor, TurnsTheEngineOffWhileTheGuestRuns) {
    TempDir out;
    // 900 million instructions of the count loop: seconds in LLVM mode, so
    // the switch comes in the middle of the loop.
    const uint64_t n = 300000000;
    PausedGuest g("count " + std::to_string(n), {"-panda", "probe:llvm=1,output=" + out.file("probe")});
    ASSERT_TRUE(g.hmp.connected());
    g.hmp.command("cont");
    // Once the boot's blocks are compiled the guest is in its loop.
    std::string status;
    for (int i = 0; i < 600; i++) {
        status = g.hmp.command("llvm");
        unsigned long blocks = 0;
        if (sscanf(status.c_str(), "LLVM mode on; %lu blocks", &blocks) == 1 && blocks >= 2900) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(status.rfind("LLVM mode on; ", 0), 0u) << status;
    EXPECT_EQ(g.hmp.command("llvm off"), "LLVM mode off from the next block\n");
    RunResult r = g.child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT"), std::vector<std::string>{result_line("count", expected_count(n))});
    auto probe = read_counts(out.file("probe"));
    EXPECT_GT(probe["llvm_bbe"], 0u);
    EXPECT_LT(probe["llvm_bbe"], probe["llvm_blocks"]);
}


void write_file(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
}

// llvm_trace (the manual's example plugin): the IR of every block and a log
// of the run, re-walked by hypanda-llvm-trace.
std::map<std::string, uint64_t> read_trace(const std::string& base, const std::vector<std::string>& more = {}) {
    std::vector<std::string> args = {build_root() + "/bin/hypanda-llvm-trace", base};
    args.insert(args.end(), more.begin(), more.end());
    RunResult r = run(args, kLimit);
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    std::map<std::string, uint64_t> counts;
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
        size_t space = line.rfind(' ');
        if (space != std::string::npos) {
            counts[line.substr(0, space)] = std::stoull(line.substr(space + 1));
        }
    }
    return counts;
}

std::string hex(uint64_t v) {
    char s[32];
    snprintf(s, sizeof(s), "0x%" PRIx64, v);
    return s;
}

// count N from its source (tests/guest/entry.S): 3N+3 instructions from the
// xor to the ret, the ret's one load, N runs of the jnz, N-1 of them taken;
// and over the whole run, the blocks and instructions QEMU's plugin API
// counts in the same run.
TEST(LlvmTrace, TheReaderRewalksTheCountLoopAndAgreesWithQemu) {
    const uint64_t n = 1000;
    TempDir dir;
    std::vector<std::string> extra = {
        "-cpu", "qemu64,vendor=GenuineIntel", "-panda", "llvm_trace:base=" + dir.path(),
        "-plugin", build_root() + "/tests/qemu-plugins/libcounter.so,out=" + dir.file("qemu")};
    Child child(guest_args("count " + std::to_string(n), extra), {});
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT"), std::vector<std::string>{result_line("count", expected_count(n))});
    EXPECT_EQ(r.err, "");

    const uint64_t lo = guest_symbol("hp_count_loop"), hi = lo + 14;  // through the ret
    const std::string range = hex(lo) + ":" + hex(hi);
    auto trace = read_trace(dir.path(), {"--range", range});
    auto qemu = read_counts(dir.file("qemu"));
    EXPECT_EQ(trace[range + " instructions"], hp_count_insns(n));
    EXPECT_EQ(trace[range + " loads"], 1u);
    EXPECT_EQ(trace[range + " stores"], 0u);
    EXPECT_EQ(trace[range + " branches"], n);
    EXPECT_EQ(trace[range + " taken"], n - 1);
    EXPECT_EQ(trace["blocks"], qemu["blocks"]);
    EXPECT_EQ(trace["instructions"], qemu["insns"]);
    EXPECT_GT(trace["entered"], trace["blocks"]);  // blocks left by an interrupt request before their first instruction
}

// The guest memory accesses of the kernel's code, against QEMU's memory
// callbacks in the same run: the instructions' own and those QEMU's helpers
// make for them (the trace has those from the memory callbacks), not those
// of interrupt delivery (QEMU's API does not see them).
TEST(LlvmTrace, LoadsAndStoresAreTheOnesQemuSees) {
    TempDir dir;
    const std::string range = "memlo=0x100000,memhi=0x200000";
    std::vector<std::string> extra = {
        "-cpu", "qemu64,vendor=GenuineIntel", "-panda", "llvm_trace:base=" + dir.path(),
        "-plugin", build_root() + "/tests/qemu-plugins/libcounter.so,out=" + dir.file("qemu") + ",what=mem," + range};
    Child child(guest_args("mem 3000", extra), {});
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT"), std::vector<std::string>{result_line("mem", expected_mem(3000))});
    auto trace = read_trace(dir.path(), {"--range", "0x100000:0x200000"});
    auto qemu = read_counts(dir.file("qemu"));
    ASSERT_GT(qemu["mem_writes"], 3000u);
    EXPECT_EQ(trace["0x100000:0x200000 loads"], qemu["mem_reads"]);
    EXPECT_EQ(trace["0x100000:0x200000 stores"], qemu["mem_writes"]);
}

TEST(LlvmTrace, BadInputGetsOneErrorLine) {
    TempDir dir;
    Child child(guest_args("count 10", {"-panda", "llvm_trace:base=" + dir.file("missing")}), {});
    RunResult r = child.wait(kLimit);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT"), std::vector<std::string>{});
    EXPECT_NE(r.err.find("llvm_trace: base=" + dir.file("missing") + ": No such file or directory\n"),
              std::string::npos)
        << r.err;

    write_file(dir.file("llvm-blocks.ll"), "");
    write_file(dir.file("llvm-trace.log"), "not a log");
    RunResult bad = run({build_root() + "/bin/hypanda-llvm-trace", dir.path()}, kLimit);
    EXPECT_EQ(bad.exit_status, 1);
    EXPECT_EQ(bad.err, "hypanda-llvm-trace: " + dir.file("llvm-trace.log") + " is not an llvm_trace log\n");
    write_file(dir.file("llvm-trace.log"), std::string("HYLTRC01B\x05\0\0\0\0\0\0\0", 17));
    bad = run({build_root() + "/bin/hypanda-llvm-trace", dir.path()}, kLimit);
    EXPECT_EQ(bad.err, "hypanda-llvm-trace: " + dir.file("llvm-blocks.ll") + " has no block tb5\n");
    bad = run({build_root() + "/bin/hypanda-llvm-trace", dir.path(), "--range", "9:3"}, kLimit);
    EXPECT_EQ(bad.exit_status, 2);
    EXPECT_EQ(bad.err, "hypanda-llvm-trace: --range 9:3: expected LO:HI with LO < HI\n");
}

// The guest asks: LLVM_ON, QUERY_LLVM, a count loop and a hypercall loop,
// LLVM_OFF, QUERY_LLVM. The blocks between the two calls run in LLVM mode
// and no others: the probe counts those (before_block_exec while
// panda_llvm_enabled()); the count loop's block [label .. jnz] runs n-1
// times in each of the three loops, so exactly n-1 of its runs are in LLVM
// mode.
TEST(LlvmHypercall, TheGuestTurnsLlvmModeOnAndOff) {
    const uint64_t n = 20000;
    TempDir out;
    std::vector<std::string> extra = {
        "-cpu", "qemu64,vendor=GenuineIntel", "-device", "hypanda-hypercall",
        "-panda", "probe:cbs=bbe,llvm_count=1,at=" + hex(guest_count_loop_label()) + ",output=" + out.file("probe")};
    Child child(guest_args("llvmwindow " + std::to_string(n), extra), {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT"),
              std::vector<std::string>{result_line("llvmwindow", hp_window_value(n))});
    EXPECT_EQ(lines_starting_with(r.out, "LLVMWINDOW"), std::vector<std::string>{"LLVMWINDOW 0 1 0 0"});
    auto probe = read_counts(out.file("probe"));
    EXPECT_EQ(probe["at_bbe"], 3 * (n - 1));
    EXPECT_EQ(probe["at_llvm_bbe"], n - 1);
    EXPECT_GT(probe["llvm_bbe"], 2 * n);
    EXPECT_LT(probe["llvm_bbe"], probe["llvm_blocks"] / 2);
}

// Without allow=switch the guest may not.
TEST(LlvmHypercall, RefusedUnlessTheHostAllowsSwitches) {
    TempDir out;
    std::vector<std::string> extra = {"-device", "hypanda-hypercall,allow=none", "-panda",
                                      "probe:llvm_count=1,output=" + out.file("probe")};
    Child child(guest_args("llvmwindow 100", extra), {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "LLVMWINDOW"),
              std::vector<std::string>{"LLVMWINDOW 2147483650 0 2147483650 0"});  // HYPANDA_HC_ERR_FORBIDDEN
    EXPECT_EQ(read_counts(out.file("probe"))["llvm_bbe"], 0u);
}

}  // namespace
}  // namespace hypanda::test
