// The test guest's command-line parser, run on the host.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <string>

#include "cmdline.h"

namespace {

struct Parsed {
    int count;
    hp_workload workloads[HP_MAX_WORKLOADS];
    std::string error;
};

Parsed parse(const char* text) {
    Parsed p{};
    char err[512] = "untouched";
    p.count = hp_parse_cmdline(text, p.workloads, err, sizeof err);
    p.error = err;
    return p;
}

TEST(GuestCmdline, ParsesChainedWorkloadsInOrder) {
    Parsed p = parse("  count 10\tmem 0x20 user 3 timer 4 io 5 disk 6 ");
    ASSERT_EQ(p.count, 6) << p.error;
    const hp_workload_kind kinds[] = {HP_WORKLOAD_COUNT, HP_WORKLOAD_MEM, HP_WORKLOAD_USER,
                                      HP_WORKLOAD_TIMER, HP_WORKLOAD_IO, HP_WORKLOAD_DISK};
    const uint64_t args[] = {10, 32, 3, 4, 5, 6};
    for (int i = 0; i < 6; i++) {
        EXPECT_EQ(p.workloads[i].kind, kinds[i]) << i;
        EXPECT_EQ(p.workloads[i].arg, args[i]) << i;
    }
}

TEST(GuestCmdline, DiskNumberIsOptional) {
    Parsed p = parse("disk count 2 disk");
    ASSERT_EQ(p.count, 3) << p.error;
    EXPECT_EQ(p.workloads[0].arg, 8u);
    EXPECT_EQ(p.workloads[1].arg, 2u);
    EXPECT_EQ(p.workloads[2].arg, 8u);
}

TEST(GuestCmdline, RejectsUnknownWorkload) {
    Parsed p = parse("count 1 nope 2");
    EXPECT_EQ(p.count, -1);
    EXPECT_EQ(p.error, "unknown workload 'nope'; workloads: count N, mem N, user N, timer N, io N, disk [N], hypercall N, fault N, cross N, alias N, switch N, switchgpr N, window N, llvmwindow N, timerswitch N, switchlat N, switchto 1|2, smc N, msrswitch N, fpuswitch N, fpustate N, bracket N, diskdma N, patch N, taintflow N, taintbad N");
}

TEST(GuestCmdline, RejectsMissingAndMalformedNumbers) {
    EXPECT_EQ(parse("timer").error, "timer needs a number, got nothing");
    EXPECT_EQ(parse("io 12x").error, "io needs a number, got '12x'");
    EXPECT_EQ(parse("io 0x").error, "io needs a number, got '0x'");
    EXPECT_EQ(parse("count 18446744073709551616").error,
              "count needs a number, got '18446744073709551616'");
}

TEST(GuestCmdline, RejectsOutOfRangeNumbers) {
    EXPECT_EQ(parse("user 0").error, "user 0 is out of range 1..10000000");
    EXPECT_EQ(parse("count 0x10000000001").error, "count 1099511627777 is out of range 1..1099511627776");
    EXPECT_EQ(parse("count 0x10000000000").count, 1);
}

TEST(GuestCmdline, RejectsEmptyAndTooLong) {
    EXPECT_EQ(parse(" \t").error, "no workload given; workloads: count N, mem N, user N, timer N, io N, disk [N], hypercall N, fault N, cross N, alias N, switch N, switchgpr N, window N, llvmwindow N, timerswitch N, switchlat N, switchto 1|2, smc N, msrswitch N, fpuswitch N, fpustate N, bracket N, diskdma N, patch N, taintflow N, taintbad N");
    std::string many;
    for (int i = 0; i < HP_MAX_WORKLOADS + 1; i++) {
        many += "count 1 ";
    }
    EXPECT_EQ(parse(many.c_str()).error, "too many workloads: at most 16 in one command line");
}

TEST(GuestCmdline, TruncatesLongWordsInMessagesAndNeverOverflows) {
    std::string word(300, 'z');
    hp_workload w[HP_MAX_WORKLOADS];
    char small[16];
    EXPECT_EQ(hp_parse_cmdline(word.c_str(), w, small, sizeof small), -1);
    EXPECT_EQ(std::string(small), "unknown workloa");
    EXPECT_EQ(parse(word.c_str()).error,
              "unknown workload '" + std::string(40, 'z') +
                  "...'; workloads: count N, mem N, user N, timer N, io N, disk [N], hypercall N, fault N, cross N, alias N, switch N, switchgpr N, window N, llvmwindow N, timerswitch N, switchlat N, switchto 1|2, smc N, msrswitch N, fpuswitch N, fpustate N, bracket N, diskdma N, patch N, taintflow N, taintbad N");
}

TEST(GuestCmdline, SkipsTheKernelFileNameQemuPrepends) {
    EXPECT_STREQ(hp_skip_kernel_name("/path/hptest.elf count 5"), "count 5");
    EXPECT_STREQ(hp_skip_kernel_name("hptest.elf"), "");
}

}  // namespace
