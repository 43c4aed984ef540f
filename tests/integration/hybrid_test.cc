// Hybrid mode (-accel kvm -hybrid on): the test guest switching between KVM
// and TCG in one process. Part of the kvm suite (kvm_test.cc has main(),
// which runs it on the host's KVM or in the nested route). Every value is
// the model's, the same as a run purely in TCG.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "elf_image.h"
#include "expected.h"
#include "model.h"
#include "monitor.h"
#include "nested.h"
#include "run.h"

namespace hypanda::test {
namespace {

constexpr std::chrono::seconds kLimit{180};

std::vector<std::string> hybrid(const std::vector<std::string>& more = {}) {
    std::vector<std::string> a = {"-accel", "kvm", "-hybrid", "on", "-device", "hypanda-hypercall"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
}

std::string switches_line(uint64_t ok, uint64_t unavailable, uint64_t forbidden) {
    return "SWITCHES " + std::to_string(ok) + " unavailable " + std::to_string(unavailable) +
           " forbidden " + std::to_string(forbidden) + " no-device 0";
}

// A run with the statistics file (-hybrid ...,stats=) and, optionally, the
// probe plugin.
struct HybridRun {
    RunResult run;
    nlohmann::json stats;
    std::map<std::string, uint64_t> probe;
};

HybridRun run_hybrid(const std::string& append, const std::vector<std::string>& more,
                     const std::string& probe_args = "", const std::string& accel = "kvm",
                     const std::string& hybrid_options = "") {
    TempDir dir;
    std::vector<std::string> extra = {"-accel", accel, "-device", "hypanda-hypercall"};
    if (accel == "kvm") {
        extra.insert(extra.end(), {"-hybrid", "on,stats=" + dir.file("stats") + hybrid_options});
    }
    extra.insert(extra.end(), more.begin(), more.end());
    if (!probe_args.empty()) {
        extra.insert(extra.end(), {"-panda", "probe:output=" + dir.file("probe") + "," + probe_args});
    }
    Child child(guest_args(append, extra), {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
    HybridRun r{child.wait(kLimit), nullptr, {}};
    std::string stats = read_file(dir.file("stats"));
    r.stats = nlohmann::json::parse(stats.empty() ? "null" : stats, nullptr, false);
    r.probe = read_counts(dir.file("probe"));
    return r;
}

// 2000 hypercalls, 1000 round trips KVM -> TCG -> KVM: every register the
// guest checks survives, the TSC never goes back, and the value is the model's
// (what the same workload gives purely in TCG, checked in the guest suite).
TEST(Hybrid, ThousandRoundTripsKeepTheStateAndGiveThePureTcgValue) {
    HybridRun r = run_hybrid("switchgpr 2000", {});
    ASSERT_EQ(r.run.exit_status, debug_exit_status(0)) << describe(r.run);
    EXPECT_EQ(lines_starting_with(r.run.out, "RESULT "),
              std::vector<std::string>{result_line("switchgpr", hp_switch_value(2000))});
    EXPECT_EQ(lines_starting_with(r.run.out, "SWITCHES"),
              std::vector<std::string>{switches_line(2000, 0, 0)});
    ASSERT_TRUE(r.stats.is_object()) << describe(r.run);
    EXPECT_EQ(r.stats["engine"], "kvm");
    EXPECT_EQ(r.stats["tcg"]["switches-to"], 1000);
    EXPECT_EQ(r.stats["kvm"]["switches-to"], 1000);
    EXPECT_EQ(r.stats["tcg"]["latency-samples"], 1000);
    EXPECT_GT(r.stats["tcg"]["median-latency-ns"], 0);
}

// The same with the x87 and SSE registers checked around every hypercall,
// from either start engine: 500 round trips each.
TEST(Hybrid, ThousandSwitchesWithFloatingPointStateGiveThePureTcgValue) {
    for (const std::string start : {"", ",start=tcg"}) {
        HybridRun r = run_hybrid("switch 1000", {}, "", "kvm", start);
        ASSERT_EQ(r.run.exit_status, debug_exit_status(0)) << start << describe(r.run);
        EXPECT_EQ(lines_starting_with(r.run.out, "RESULT "),
                  std::vector<std::string>{result_line("switch", hp_switch_value(1000))});
        EXPECT_EQ(lines_starting_with(r.run.out, "SWITCHES"),
                  std::vector<std::string>{switches_line(1000, 0, 0)});
    }
}

// The whole x87/SSE state across single switches (fpustate, model.h): eight
// distinct x87 registers with a non-zero stack top and empty tags, FCW,
// FSW, MXCSR, every XMM register, and YMM on a CPU with AVX; 1000 round
// trips from each start engine. (This caught the x87 registers crossing in
// FXSAVE's stack order where TCG keeps them by physical number.)
TEST(Hybrid, FloatingPointStateCrossesEverySingleSwitch) {
    for (const std::string start : {"", ",start=tcg"}) {
        HybridRun r = run_hybrid("fpustate 2000", {}, "", "kvm", start);
        ASSERT_EQ(r.run.exit_status, debug_exit_status(0)) << start << describe(r.run);
        EXPECT_EQ(lines_starting_with(r.run.out, "RESULT "),
                  std::vector<std::string>{result_line("fpustate", hp_fpustate_value(2000))});
        EXPECT_EQ(lines_starting_with(r.run.out, "FPUSTATE"), std::vector<std::string>{"FPUSTATE fxsave"});
        EXPECT_EQ(lines_starting_with(r.run.out, "SWITCHES"),
                  std::vector<std::string>{switches_line(2000, 0, 0)});
    }
    HybridRun avx = run_hybrid("fpustate 200", {"-cpu", "qemu64,+xsave,+avx"});
    ASSERT_EQ(avx.run.exit_status, debug_exit_status(0)) << describe(avx.run);
    EXPECT_EQ(lines_starting_with(avx.run.out, "RESULT "),
              std::vector<std::string>{result_line("fpustate", hp_fpustate_value(200))});
    EXPECT_EQ(lines_starting_with(avx.run.out, "FPUSTATE"), std::vector<std::string>{"FPUSTATE xsave-avx"});
}

// MSRs the guest writes in one engine read back the same in the other: FS
// and GS bases, the system-call MSRs, PAT. SYSENTER_ESP keeps its upper
// half as KVM keeps it without any switch (model.h): an AMD CPU keeps 32
// bits for a guest of AMD vendor, KVM keeps all 64 for a guest of Intel
// vendor, as TCG does. Which one the KVM at hand does is measured (a
// host's KVM may keep all 64 bits for both vendors: this machine's, Linux
// 6.18 nested on an AMD EPYC, does): the same workload under KVM alone, no
// hybrid mode, whose value must be one of the model's two; the hybrid run
// must give the same.
TEST(Hybrid, MsrsCrossEverySwitchAsTheVendorKeepsThem) {
    for (const std::string cpu : {"qemu64", "qemu64,vendor=GenuineIntel"}) {
        Child alone(guest_args("msrswitch 200", {"-accel", "kvm", "-device", "hypanda-hypercall", "-cpu", cpu}),
                    {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
        const auto k = alone.wait(kLimit);
        ASSERT_EQ(k.exit_status, debug_exit_status(0)) << cpu << describe(k);
        const auto kvm_result = lines_starting_with(k.out, "RESULT ");
        const auto dropped = std::vector<std::string>{result_line("msrswitch", hp_msrswitch_value(200, true))};
        const auto kept = std::vector<std::string>{result_line("msrswitch", hp_msrswitch_value(200, false))};
        ASSERT_TRUE(kvm_result == dropped || kvm_result == kept)
            << cpu << ": KVM alone gave " << testing::PrintToString(kvm_result);
        if (cpu.find("GenuineIntel") != std::string::npos) {
            EXPECT_EQ(kvm_result, kept) << "KVM keeps 64 bits for a guest of Intel vendor";
        }
        HybridRun r = run_hybrid("msrswitch 200", {"-cpu", cpu});
        ASSERT_EQ(r.run.exit_status, debug_exit_status(0)) << cpu << describe(r.run);
        EXPECT_EQ(lines_starting_with(r.run.out, "RESULT "), kvm_result)
            << cpu << " on " << cpu_vendor() << (kvm_result == dropped ? " (KVM drops)" : " (KVM keeps)");
        EXPECT_EQ(lines_starting_with(r.run.out, "SWITCHES"),
                  std::vector<std::string>{switches_line(200, 0, 0)});
    }
}

// The x87, SSE and MXCSR state set in TCG goes through KVM and back
// unchanged, rounding modes included. (This caught KVM restoring SSE
// registers from their initial state: TCG does not track XSAVE's in-use
// bits, so entering KVM marks them.)
TEST(Hybrid, FloatingPointStateGoesThroughKvmAndBack) {
    HybridRun r = run_hybrid("fpuswitch 200", {});
    ASSERT_EQ(r.run.exit_status, debug_exit_status(0)) << describe(r.run);
    EXPECT_EQ(lines_starting_with(r.run.out, "RESULT "),
              std::vector<std::string>{result_line("fpuswitch", hp_fpuswitch_value(200))});
    EXPECT_EQ(lines_starting_with(r.run.out, "SWITCHES"),
              std::vector<std::string>{switches_line(600, 0, 0)});
}

// Code the guest rewrites natively under KVM runs as rewritten in TCG:
// the translation cache is flushed on entry, or, with keep-tbs=on, the
// pages KVM's dirty log reports written are invalidated. (Without either,
// TCG would run the previous round's code and the value would differ.)
TEST(Hybrid, CodeRewrittenUnderKvmRunsAsRewrittenInTcg) {
    for (const std::string options : {"", ",keep-tbs=on"}) {
        HybridRun r = run_hybrid("smc 50", {}, "", "kvm", options);
        ASSERT_EQ(r.run.exit_status, debug_exit_status(0)) << options << describe(r.run);
        EXPECT_EQ(lines_starting_with(r.run.out, "RESULT "),
                  std::vector<std::string>{result_line("smc", hp_smc_value(50))})
            << options;
        EXPECT_EQ(lines_starting_with(r.run.out, "SWITCHES"),
                  std::vector<std::string>{switches_line(100, 0, 0)});
    }
}

// The APIC timer keeps interrupting across 19 switches; every tick arrives
// exactly once (the guest counts them and stops the timer at the last one).
TEST(Hybrid, TimerInterruptsKeepArrivingAcrossSwitches) {
    HybridRun r = run_hybrid("timerswitch 40", {});
    ASSERT_EQ(r.run.exit_status, debug_exit_status(0)) << describe(r.run);
    EXPECT_EQ(lines_starting_with(r.run.out, "RESULT "),
              std::vector<std::string>{result_line("timerswitch", 40)});
    EXPECT_EQ(lines_starting_with(r.run.out, "SWITCHES"),
              std::vector<std::string>{switches_line(19, 0, 0)});
    EXPECT_EQ(r.stats["tcg"]["switches-to"], 10);
    EXPECT_EQ(r.stats["kvm"]["switches-to"], 9);
}

TEST(Hybrid, ASwitchThePolicyForbidsIsRefusedAndDoesNotHappen) {
    HybridRun r = run_hybrid("switchgpr 10", {"-global", "hypanda-hypercall.allow=none"});
    ASSERT_EQ(r.run.exit_status, debug_exit_status(0)) << describe(r.run);
    EXPECT_EQ(lines_starting_with(r.run.out, "SWITCHES"),
              std::vector<std::string>{switches_line(0, 0, 10)});
    EXPECT_EQ(r.stats["engine"], "kvm");
    EXPECT_EQ(r.stats["tcg"]["switches-to"], 0);
    EXPECT_EQ(r.stats["kvm"]["switches-to"], 0);
}

// window N: count loop under KVM, then in TCG the count loop and N CPUID
// hypercalls, then the count loop under KVM again. Plugins loaded at start
// see exactly the TCG part: one loop of the three, and all N hypercalls
// (the CPUID hypercall reaches guest_hypercall in TCG, as in a pure TCG
// run, which sees all three loops).
TEST(Hybrid, PluginCallbacksRunOnlyWhileTheGuestIsInTcg) {
    const uint64_t n = 1000, label = guest_count_loop_label();
    ASSERT_NE(label, 0u);
    const std::string args = "cbs=bbe+hyp+eng,at=" + hex(label);
    HybridRun h = run_hybrid("window " + std::to_string(n), {}, args);
    HybridRun t = run_hybrid("window " + std::to_string(n), {}, args, "tcg");
    for (const HybridRun* r : {&h, &t}) {
        ASSERT_EQ(r->run.exit_status, debug_exit_status(0)) << describe(r->run);
        EXPECT_EQ(lines_starting_with(r->run.out, "RESULT "),
                  std::vector<std::string>{result_line("window", hp_window_value(n))});
        EXPECT_EQ(r->probe.at("hyp_magic"), n);
    }
    EXPECT_EQ(lines_starting_with(h.run.out, "WINDOW"), std::vector<std::string>{"WINDOW 2"});
    EXPECT_EQ(lines_starting_with(t.run.out, "WINDOW"), std::vector<std::string>{"WINDOW 0"});
    EXPECT_EQ(h.probe.at("at_bbe"), n - 1);
    EXPECT_EQ(t.probe.at("at_bbe"), HP_WINDOW_COUNT_LOOPS * (n - 1));
    EXPECT_LT(h.probe.at("bbe"), t.probe.at("bbe"));
    EXPECT_EQ(h.probe.at("engine_to_tcg"), 1u);
    EXPECT_EQ(h.probe.at("engine_to_kvm"), 1u);
    EXPECT_EQ(t.probe.at("engine_to_tcg") + t.probe.at("engine_to_kvm"), 0u);
}

// -hybrid-break: the guest switches to TCG where it reaches hp_count_loop
// under KVM, so the probe sees every run of the loop block.
TEST(Hybrid, BreakpointSwitchesToTcgWhereTheGuestArrives) {
    const uint64_t n = 1000, label = guest_count_loop_label();
    ASSERT_NE(label, 0u);
    HybridRun r = run_hybrid("count " + std::to_string(n),
                             {"-hybrid-break", hex(guest_symbol("hp_count_loop"))},
                             "cbs=bbe+eng,at=" + hex(label));
    ASSERT_EQ(r.run.exit_status, debug_exit_status(0)) << describe(r.run);
    EXPECT_EQ(lines_starting_with(r.run.out, "RESULT "),
              std::vector<std::string>{result_line("count", expected_count(n))});
    EXPECT_EQ(r.probe.at("at_bbe"), n - 1);
    EXPECT_EQ(r.probe.at("engine_to_tcg"), 1u);
    EXPECT_EQ(r.stats["engine"], "tcg");
    EXPECT_EQ(r.stats["tcg"]["switches-to"], 1);
}

// A plugin sends the guest back to KVM from a callback: the switch happens
// once the current block is done, so it sees exactly K runs of the loop.
// (The guest starts in TCG, so no breakpoint is needed to get there.)
TEST(Hybrid, APluginSendsTheGuestBackToKvm) {
    const uint64_t n = 1000, k = 100, label = guest_count_loop_label();
    ASSERT_NE(label, 0u);
    HybridRun r = run_hybrid("count " + std::to_string(n), {}, "cbs=bbe+eng,at=" + hex(label) +
                             ",kvm_after=" + std::to_string(k), "kvm", ",start=tcg");
    ASSERT_EQ(r.run.exit_status, debug_exit_status(0)) << describe(r.run);
    EXPECT_EQ(lines_starting_with(r.run.out, "RESULT "),
              std::vector<std::string>{result_line("count", expected_count(n))});
    EXPECT_EQ(r.probe.at("engine_at_request"), uint64_t{HYPANDA_ENGINE_TCG});
    EXPECT_EQ(r.probe.at("engine_requests_refused"), 0u);
    EXPECT_EQ(r.probe.at("at_bbe"), k);
    EXPECT_EQ(r.probe.at("engine_to_tcg"), 0u);
    EXPECT_EQ(r.probe.at("engine_to_kvm"), 1u);
    EXPECT_EQ(r.stats["engine"], "kvm");
    EXPECT_EQ(r.stats["kvm"]["switches-to"], 1);
}

struct PausedHybrid {
    TempDir dir;
    Child child;
    explicit PausedHybrid(const std::string& append, const std::string& monitor,
                          const std::vector<std::string>& more)
        : child(guest_args(append, [&] {
                    std::vector<std::string> a = hybrid(more);
                    a.insert(a.end(), {"-S", monitor, "unix:" + dir.file("mon") + ",server=on,wait=off"});
                    return a;
                }()),
                {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"}) {}
};

// QMP: hybrid-switch both ways while the guest is stopped, one
// HYPANDA_ENGINE_SWITCH event per switch, query-hybrid; then the guest runs
// in TCG, where the probe sees the whole loop.
TEST(Hybrid, QmpSwitchesAndReportsEverySwitch) {
    const uint64_t n = 500, label = guest_count_loop_label();
    ASSERT_NE(label, 0u);
    TempDir out;
    PausedHybrid g("count " + std::to_string(n), "-qmp",
                   {"-panda", "probe:cbs=bbe,at=" + hex(label) + ",output=" + out.file("probe")});
    Qmp qmp(g.dir.file("mon"));
    ASSERT_TRUE(qmp.connected());
    EXPECT_EQ(qmp.execute("query-hybrid")["return"]["engine"], "kvm");
    for (const char* engine : {"tcg", "kvm", "tcg"}) {
        auto reply = qmp.execute("hybrid-switch", {{"engine", engine}});
        EXPECT_EQ(reply["return"]["engine"], engine) << reply.dump();
    }
    auto info = qmp.execute("query-hybrid")["return"];
    EXPECT_EQ(info["hybrid"], true);
    EXPECT_EQ(info["tcg"]["switches-to"], 2);
    EXPECT_EQ(info["kvm"]["switches-to"], 1);
    std::vector<std::string> seen;
    for (const auto& e : qmp.take_events()) {
        if (e["event"] == "HYPANDA_ENGINE_SWITCH") {
            EXPECT_EQ(e["data"]["trigger"], "monitor");
            EXPECT_GT(e["data"]["latency-ns"], 0);
            seen.push_back(e["data"]["engine"]);
        }
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"tcg", "kvm", "tcg"}));
    EXPECT_EQ(qmp.execute("hybrid-switch", {{"engine", "gpu"}})["error"]["desc"],
              "hybrid-switch: engine must be 'tcg' or 'kvm'");
    EXPECT_EQ(qmp.execute("hybrid-switch")["error"]["desc"],
              "hybrid-switch: missing argument 'engine'");
    qmp.execute("cont");
    RunResult r = g.child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(read_counts(out.file("probe")).at("at_bbe"), n - 1);
}

// Monitor switches while the guest mostly waits in HLT for timer ticks and
// makes its own switch hypercalls: no tick lost or doubled, no hang. (A
// switch to the engine the guest is already in answers OK and does nothing.)
TEST(Hybrid, MonitorSwitchesWhileTheGuestWaitsForInterrupts) {
    TempDir dir;
    Child child(guest_args("timerswitch 300", hybrid({"-qmp", "unix:" + dir.file("qmp") + ",server=on,wait=off"})));
    Qmp qmp(dir.file("qmp"));
    ASSERT_TRUE(qmp.connected());
    int done = 0;
    for (int i = 0; i < 40; i++) {
        auto reply = qmp.execute("hybrid-switch", {{"engine", i % 2 == 0 ? "tcg" : "kvm"}});
        if (!reply.contains("return")) {
            break;  // the guest finished first
        }
        done++;
    }
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "), std::vector<std::string>{result_line("timerswitch", 300)});
    EXPECT_EQ(lines_starting_with(r.out, "SWITCHES"), std::vector<std::string>{switches_line(149, 0, 0)});
    EXPECT_GT(done, 10);
}

// A recording asked for at start-up while the guest runs under KVM begins
// at the switch to TCG and ends at the switch back: it holds the window,
// and replays offline (plain TCG, no KVM), 10 times out of 10, to the same
// instruction count, RAM hash and guest memory accesses the recorded window
// made.
TEST(Hybrid, RecordsTheTcgWindowAndReplaysIt) {
    const uint64_t n = 1000;
    TempDir dir;
    const std::string rec = dir.file("window");
    HybridRun h = run_hybrid("window " + std::to_string(n),
                             {"-record-from", ":" + rec, "-panda", "memhash:output=" + dir.file("record.mem")});
    ASSERT_EQ(h.run.exit_status, debug_exit_status(0)) << describe(h.run);
    EXPECT_EQ(lines_starting_with(h.run.out, "WINDOW"), std::vector<std::string>{"WINDOW 2"});
    const uint64_t insns =
        nlohmann::json::parse(read_file(rec + "/manifest.json")).at("instructions").get<uint64_t>();
    // One log entry: the port read of the hypercall that switches back.
    const std::string said = "hypanda-system-x86_64: info: recording " + rec;
    EXPECT_EQ(lines_starting_with(h.run.err, said),
              (std::vector<std::string>{said + ": starts when the guest switches to TCG", said + ": started",
                                        said + ": " + std::to_string(insns) +
                                            " instructions, 1 log entries, 29 log bytes"}));
    // The window's count loop and its N hypercalls, not the KVM loops.
    EXPECT_GT(insns, 3 * n + 3);
    EXPECT_LT(insns, 2 * (3 * n + 3) + 20 * n);
    const auto recorded = read_counts(dir.file("record.mem"));
    EXPECT_GT(recorded.at("mem_reads"), 0u);
    for (int i = 0; i < 10; i++) {
        Child replay({emulator(), "-replay", rec, "-panda", "memhash:output=" + dir.file("replay.mem")},
                     {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
        RunResult p = replay.wait(kLimit);
        ASSERT_EQ(p.exit_status, 0) << "replay " << i << ": " << describe(p);
        EXPECT_EQ(lines_starting_with(p.err, "replay verified"),
                  std::vector<std::string>{"replay verified: " + std::to_string(insns) + " instructions, RAM hash ok"})
            << "replay " << i;
        EXPECT_EQ(read_counts(dir.file("replay.mem")), recorded) << "replay " << i;
    }
}

TEST(Hybrid, HmpSwitchesAndShowsTheEngine) {
    const uint64_t n = 100, label = guest_count_loop_label();
    ASSERT_NE(label, 0u);
    PausedHybrid g("window " + std::to_string(n), "-monitor", {});
    Hmp hmp(g.dir.file("mon"));
    ASSERT_TRUE(hmp.connected());
    EXPECT_EQ(lines_starting_with(hmp.command("info hybrid"), "engine"),
              std::vector<std::string>{"engine kvm"});
    EXPECT_EQ(hmp.command("hybrid_switch tcg"), "engine tcg\n");
    std::string info = hmp.command("info hybrid");
    EXPECT_EQ(lines_starting_with(info, "engine"), std::vector<std::string>{"engine tcg"});
    EXPECT_EQ(lines_starting_with(info, "switches"),
              std::vector<std::string>{"switches 1 (to tcg 1, to kvm 0)"});
    EXPECT_EQ(lines_starting_with(info, "switch to tcg latency: last ").size(), 1u) << info;
    EXPECT_EQ(hmp.command("hybrid_switch kvm"), "engine kvm\n");
    EXPECT_EQ(hmp.command("hybrid_switch sideways"), "error: engine must be 'tcg' or 'kvm'\n");
    // A plugin loaded from the monitor while the guest is in KVM sleeps
    // until the guest enters TCG: it sees the window's loop only.
    TempDir out;
    EXPECT_EQ(hmp.command("load_plugin probe cbs=bbe,at=" + hex(label) + ",output=" + out.file("probe")),
              "loaded panda_probe.so as plugin 0\n");
    hmp.command("cont");
    RunResult r = g.child.wait(kLimit);
    EXPECT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(read_counts(out.file("probe")).at("at_bbe"), n - 1);
}

// Without hybrid mode the commands answer, and refuse to switch.
TEST(Hybrid, WithoutHybridModeTheMonitorSaysSo) {
    TempDir dir;
    Child child(guest_args("count 10", {"-S", "-monitor", "unix:" + dir.file("hmp") + ",server=on,wait=off"}));
    Hmp hmp(dir.file("hmp"));
    ASSERT_TRUE(hmp.connected());
    EXPECT_EQ(hmp.command("info hybrid"), "hybrid mode off; engine tcg\n");
    EXPECT_EQ(hmp.command("hybrid_switch kvm"),
              "error: hybrid mode is off (start the emulator with -accel kvm -hybrid on)\n");
    hmp.command("cont");
    EXPECT_EQ(child.wait(kLimit).exit_status, debug_exit_status(0));
}

// Settings hybrid mode cannot work with: one error line each, exit status 1.
TEST(Hybrid, ConflictingSettingsGetOneClearErrorLine) {
    const std::string prog = "hypanda-system-x86_64: ";
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"-accel", "tcg", "-hybrid", "on"},
         "-hybrid on needs the KVM accelerator (-accel kvm); this run uses tcg-accel"},
        {{"-accel", "kvm", "-hybrid", "maybe"},
         "-hybrid maybe: 'maybe' is not understood "
         "(expected on|off[,start=kvm|tcg][,keep-tbs=on|off][,stats=FILE])"},
        {{"-accel", "kvm", "-hybrid-break", "0x1000"}, "-hybrid-break needs -hybrid on"},
        {{"-accel", "kvm", "-hybrid", "on", "-hybrid-break", "zz"}, "-hybrid-break zz: 'zz' is not an address"},
        {{"-accel", "kvm", "-hybrid", "on", "-smp", "2"}, "-hybrid on: one vCPU only (this machine has 2)"},
        {{"-accel", "kvm,kernel-irqchip=on", "-hybrid", "on"},
         "-hybrid on: the in-kernel interrupt controller cannot run under TCG; leave kernel-irqchip "
         "unset or set it to off"},
        {{"-accel", "kvm", "-hybrid", "on", "-machine", "pc,smm=on"},
         "-hybrid on: SMM is not supported in hybrid mode; use smm=off"},
    };
    for (const auto& [args, message] : cases) {
        RunResult r = run(guest_args("count 10", args), kLimit);
        EXPECT_EQ(r.exit_status, 1) << describe(r);
        EXPECT_EQ(r.err, prog + message + "\n") << describe(r);
    }
}

}  // namespace
}  // namespace hypanda::test
