// Boots the test guest under TCG and checks every workload's RESULT line
// against the host-side model, and that bad input ends in one clear ERROR
// line with the documented exit code instead of a hang.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <algorithm>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "expected.h"
#include "elf_image.h"
#include "model.h"
#include "run.h"

namespace hypanda::test {
namespace {

constexpr std::chrono::seconds kLimit{60};
// The user workload needs SYSENTER in 64-bit mode: an Intel vendor string.
const std::vector<std::string> kIntelCpu = {"-cpu", "qemu64,vendor=GenuineIntel"};

RunResult boot(const std::string& append, const std::vector<std::string>& extra = {}) {
    return run(guest_args(append, extra), kLimit);
}

void expect_results(const RunResult& r, const std::vector<std::string>& lines) {
    EXPECT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "), lines) << describe(r);
    EXPECT_TRUE(lines_starting_with(r.out, "ERROR").empty()) << describe(r);
}

void expect_error(const RunResult& r, int code, const std::string& error_line) {
    EXPECT_FALSE(r.timed_out) << describe(r);
    EXPECT_EQ(r.exit_status, debug_exit_status(code)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "ERROR"), std::vector<std::string>{error_line}) << describe(r);
    EXPECT_TRUE(lines_starting_with(r.out, "RESULT").empty()) << describe(r);
}


TEST(Emulator, VersionKeepsQemuLineFirstAndNamesHypanda) {
    RunResult r = run({emulator(), "--version"}, kLimit);
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_EQ(r.out.rfind("QEMU emulator version 7.2.", 0), 0u) << r.out;
    EXPECT_EQ(lines_starting_with(r.out, "Hypanda ").size(), 1u) << r.out;
}

TEST(GuestCount, ReportsTheSumOfOneToN) {
    expect_results(boot("count 1000000"), {result_line("count", expected_count(1000000))});
    EXPECT_EQ(expected_count(1000000), 500000500000u);
}

TEST(GuestCount, AcceptsHexAndTheSmallestN) {
    expect_results(boot("count 0x10 count 1"),
                   {result_line("count", expected_count(16)), result_line("count", 1)});
}

TEST(GuestMem, ChecksumMatchesTheModel) {
    expect_results(boot("mem 200000"), {result_line("mem", expected_mem(200000))});
}

TEST(GuestUser, SyscallIntAndSysenterFromRing3MatchTheModel) {
    expect_results(boot("user 30000", kIntelCpu), {result_line("user", expected_user(30000))});
}

TEST(GuestUser, RefusesANonIntelCpuWithAClearError) {
    expect_error(boot("user 3"), 2,
                 "ERROR user: SYSENTER is invalid in 64-bit mode on this CPU's vendor (not "
                 "GenuineIntel); run with an Intel CPU model, e.g. -cpu qemu64,vendor=GenuineIntel");
}

TEST(GuestTimer, TakesExactlyNTimerInterrupts) {
    expect_results(boot("timer 50"), {result_line("timer", 50)});
}

TEST(GuestIo, PortAndMmioReadsMatchThePcMachine) {
    expect_results(boot("io 2000"), {result_line("io", expected_io(2000))});
}

TEST(GuestDisk, ChecksumOfSectorsMatchesTheImage) {
    std::vector<uint8_t> image = make_disk_image(256 * 512, 7);
    TempDir dir;
    std::ofstream(dir.file("disk.img"), std::ios::binary)
        .write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size()));
    std::vector<std::string> drive = {"-drive", "file=" + dir.file("disk.img") + ",format=raw,if=ide,index=0"};
    expect_results(boot("disk 200 disk", drive),
                   {result_line("disk", expected_disk(image, 200)), result_line("disk", expected_disk(image, 8))});
    expect_results(boot("diskdma 128 diskdma 3", drive),
                   {result_line("diskdma", expected_disk(image, 128)), result_line("diskdma", expected_disk(image, 3))});
}

TEST(GuestDisk, WithoutADriveSaysSo) {
    expect_error(boot("disk 1"), 2,
                 "ERROR disk: no ATA drive on the primary channel (status 0x0000000000000000); "
                 "attach one, e.g. -drive file=disk.img,format=raw,if=ide,index=0");
}

TEST(GuestHypercall, ExecutesNCpuidHypercalls) {
    expect_results(boot("hypercall 1000"), {result_line("hypercall", 1000)});
}

TEST(GuestFault, TakesAndSkipsNPageFaults) {
    expect_results(boot("fault 300"), {result_line("fault", expected_fault(300))});
    EXPECT_EQ(hp_fault_address(2), 0x100002000u);
}

TEST(GuestCross, PageCrossingAccessesReadBackWhatWasStored) {
    expect_results(boot("cross 100"), {result_line("cross", expected_cross(100))});
}

TEST(GuestAlias, RunsTheSameCodeFromTwoVirtualAddresses) {
    expect_results(boot("alias 1000"), {result_line("alias", hp_alias_value(1000))});
    EXPECT_EQ(hp_alias_value(1000), 1001000u);
}

// switch N without hybrid mode: the same value whatever the hypercall port
// answers, and the SWITCHES line counts the answers. The state checks around
// each hypercall (registers, XMM, x87, TSC) pass.
TEST(GuestSwitch, RunsWithoutHybridModeAndCountsTheAnswers) {
    const std::vector<std::string> want = {result_line("switch", hp_switch_value(1000))};
    RunResult none = boot("switch 1000");
    expect_results(none, want);
    EXPECT_EQ(lines_starting_with(none.out, "SWITCHES"),
              std::vector<std::string>{"SWITCHES 0 unavailable 0 forbidden 0 no-device 1000"});

    RunResult device = boot("switch 1000", {"-device", "hypanda-hypercall"});
    expect_results(device, want);
    EXPECT_EQ(lines_starting_with(device.out, "SWITCHES"),
              std::vector<std::string>{"SWITCHES 0 unavailable 1000 forbidden 0 no-device 0"});

    RunResult refused = boot("switch 1000", {"-device", "hypanda-hypercall,allow=none"});
    expect_results(refused, want);
    EXPECT_EQ(lines_starting_with(refused.out, "SWITCHES"),
              std::vector<std::string>{"SWITCHES 0 unavailable 0 forbidden 1000 no-device 0"});
}

// The state check around the hypercall sees a register the host changed:
// a plugin adds 1 to R12 right after the first hypercall's IN.
TEST(GuestSwitch, StateCheckCatchesAChangedRegister) {
    ElfImage image = ElfImage::load(build_root() + "/tests/guest/hptest64.elf");
    const uint64_t call = image.symbols.at("hp_switch_call");
    const std::vector<uint8_t> code = image.bytes_at(call, 400);
    // mov $HP_SWITCH_PORT,%edx; in (%dx),%eax
    const std::vector<uint8_t> in_seq = {0xba, HP_SWITCH_PORT & 0xff, HP_SWITCH_PORT >> 8, 0, 0, 0xed};
    uint64_t after_in = 0;
    for (size_t i = 0; i + in_seq.size() <= code.size(); i++) {
        if (std::equal(in_seq.begin(), in_seq.end(), code.begin() + i)) {
            after_in = call + i + in_seq.size();
            break;
        }
    }
    ASSERT_NE(after_in, 0u);
    RunResult r = run(guest_args("switch 3",
                                 {"-panda-plugin", build_root() + "/tests/plugins/panda_probe.so",
                                  "-panda-arg", "probe:cbs=insn", "-panda-arg", "probe:add_reg=r12",
                                  "-panda-arg", "probe:insn_add_rax=" + std::to_string(after_in)}),
                      kLimit);
    EXPECT_EQ(r.exit_status, debug_exit_status(2)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "ERROR"),
              std::vector<std::string>{"ERROR switch: registers changed across hypercall 0, mask 0x0000000000000008"})
        << describe(r);
}

TEST(GuestSwitch, GprVariantHasTheSameValue) {
    RunResult r = boot("switchgpr 300", {"-device", "hypanda-hypercall"});
    expect_results(r, {result_line("switchgpr", hp_switch_value(300))});
    EXPECT_EQ(lines_starting_with(r.out, "SWITCHES"),
              std::vector<std::string>{"SWITCHES 0 unavailable 300 forbidden 0 no-device 0"});
}

// The whole x87/SSE state loaded, kept across a hypercall and saved back:
// FXSAVE on the default CPU, XSAVE with the YMM registers on one with AVX.
TEST(GuestSwitch, FloatingPointStateWorkloadGivesTheModelValueWithAndWithoutAvx) {
    for (const auto& [cpu, format] : {std::pair<std::string, std::string>{"qemu64", "fxsave"},
                                      {"max", "xsave-avx"}}) {
        RunResult r = boot("fpustate 300", {"-cpu", cpu, "-device", "hypanda-hypercall"});
        expect_results(r, {result_line("fpustate", hp_fpustate_value(300))});
        EXPECT_EQ(lines_starting_with(r.out, "FPUSTATE"), std::vector<std::string>{"FPUSTATE " + format})
            << cpu;
        EXPECT_EQ(lines_starting_with(r.out, "SWITCHES"),
                  std::vector<std::string>{"SWITCHES 0 unavailable 300 forbidden 0 no-device 0"});
    }
}

// The hybrid-mode workloads without hybrid mode: the values are the model's
// and every switch answers "unavailable" (hybrid_test.cc runs them switching).
TEST(GuestSwitch, HybridWorkloadsRunWithoutHybridMode) {
    RunResult r = boot("window 1000 timerswitch 20 switchlat 10 smc 20 msrswitch 30 fpuswitch 10",
                       {"-device", "hypanda-hypercall"});
    expect_results(r, {result_line("window", hp_window_value(1000)), result_line("timerswitch", 20),
                       result_line("switchlat", 10), result_line("smc", hp_smc_value(20)),
                       result_line("msrswitch", hp_msrswitch_value(30, false)),
                       result_line("fpuswitch", hp_fpuswitch_value(10))});
    EXPECT_EQ(hp_window_value(1000), 1502500u);
    EXPECT_EQ(lines_starting_with(r.out, "WINDOW"), std::vector<std::string>{"WINDOW 0"});
    EXPECT_EQ(lines_starting_with(r.out, "SWITCHES"),
              (std::vector<std::string>{"SWITCHES 0 unavailable 9 forbidden 0 no-device 0",
                                        "SWITCHES 0 unavailable 40 forbidden 0 no-device 0",
                                        "SWITCHES 0 unavailable 30 forbidden 0 no-device 0",
                                        "SWITCHES 0 unavailable 30 forbidden 0 no-device 0"}));
    EXPECT_EQ(lines_starting_with(r.out, "SWITCHLAT to-tcg ").size(), 1u) << r.out;
}

TEST(GuestSwitch, BadHypercallDeviceSettingsAreOneErrorLine) {
    RunResult r = boot("switch 1", {"-device", "hypanda-hypercall,allow=everything"});
    EXPECT_EQ(r.exit_status, 1) << describe(r);
    EXPECT_EQ(lines_starting_with(r.err, "").size(), 1u) << describe(r);
    EXPECT_NE(r.err.find("hypanda-hypercall: allow=everything: unknown command class 'everything'"),
              std::string::npos)
        << describe(r);
    RunResult two = boot("switch 1", {"-device", "hypanda-hypercall", "-device", "hypanda-hypercall"});
    EXPECT_EQ(two.exit_status, 1) << describe(two);
    EXPECT_NE(two.err.find("only one such device per machine"), std::string::npos) << describe(two);
}

TEST(GuestChain, RunsWorkloadsInOrder) {
    expect_results(boot("count 1000 mem 10 io 5 timer 3 user 7", kIntelCpu),
                   {result_line("count", expected_count(1000)), result_line("mem", expected_mem(10)),
                    result_line("io", expected_io(5)), result_line("timer", 3),
                    result_line("user", expected_user(7))});
}

TEST(GuestArguments, UnknownWorkloadIsAnError) {
    expect_error(boot("count 5 frobnicate 3"), 1,
                 "ERROR unknown workload 'frobnicate'; workloads: count N, mem N, user N, timer N, io N, disk [N], hypercall N, fault N, cross N, alias N, switch N, switchgpr N, window N, llvmwindow N, timerswitch N, switchlat N, switchto 1|2, smc N, msrswitch N, fpuswitch N, fpustate N, bracket N, diskdma N, patch N, taintflow N, taintbad N");
}

TEST(GuestArguments, MissingNumberIsAnError) {
    expect_error(boot("count"), 1, "ERROR count needs a number, got nothing");
    expect_error(boot("mem lots"), 1, "ERROR mem needs a number, got 'lots'");
}

TEST(GuestArguments, OutOfRangeIsAnError) {
    expect_error(boot("count 0"), 1, "ERROR count 0 is out of range 1..1099511627776");
    expect_error(boot("disk 257"), 1, "ERROR disk 257 is out of range 1..256");
}

TEST(GuestArguments, EmptyCommandLineIsAnError) {
    expect_error(boot(""), 1, "ERROR no workload given; workloads: count N, mem N, user N, timer N, io N, disk [N], hypercall N, fault N, cross N, alias N, switch N, switchgpr N, window N, llvmwindow N, timerswitch N, switchlat N, switchto 1|2, smc N, msrswitch N, fpuswitch N, fpustate N, bracket N, diskdma N, patch N, taintflow N, taintbad N");
}

}  // namespace
}  // namespace hypanda::test
