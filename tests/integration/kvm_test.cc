// The test guest under -accel kvm; the values must equal the model's, as
// under TCG. On this machine's /dev/kvm, or, where there is none (or
// HYPANDA_KVM_ROUTE=nested asks for it), inside an L1 machine whose KVM
// runs on QEMU's emulated AMD SVM (the nested route, support/nested.h):
// main() then runs this same program there. Its first line names the route.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <cstdio>

#include "expected.h"
#include "model.h"
#include "nested.h"
#include "run.h"

namespace hypanda::test {
namespace {

constexpr std::chrono::seconds kLimit{120};

RunResult boot(const std::string& accel, const std::string& append) {
    return run(guest_args(append, {"-accel", accel}), kLimit);
}

TEST(GuestUnderKvm, CountMatchesTheModel) {
    RunResult r = boot("kvm", "count 100000");
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("count", expected_count(100000))})
        << describe(r);
}

// Every hypercall is a port-I/O exit to the emulator; the variant without
// the x87 and SSE checks (hybrid_test.cc runs the whole one).
TEST(GuestUnderKvm, SwitchWorkloadChecksStateAroundHypercalls) {
    RunResult r = run(guest_args("switchgpr 20", {"-accel", "kvm", "-device", "hypanda-hypercall"}), kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("switchgpr", hp_switch_value(20))})
        << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "SWITCHES"),
              std::vector<std::string>{"SWITCHES 0 unavailable 20 forbidden 0 no-device 0"});
}

TEST(GuestUnderKvm, IoMatchesTheModelAndTcg) {
    RunResult kvm = boot("kvm", "io 20");
    RunResult tcg = boot("tcg", "io 20");
    ASSERT_EQ(kvm.exit_status, debug_exit_status(0)) << describe(kvm);
    ASSERT_EQ(tcg.exit_status, debug_exit_status(0)) << describe(tcg);
    std::vector<std::string> want = {result_line("io", expected_io(20))};
    EXPECT_EQ(lines_starting_with(kvm.out, "RESULT "), want) << describe(kvm);
    EXPECT_EQ(lines_starting_with(tcg.out, "RESULT "), want) << describe(tcg);
}

TEST(GuestUnderKvm, BadArgumentsEndWithAnErrorNotAHang) {
    RunResult r = boot("kvm", "count nope");
    EXPECT_FALSE(r.timed_out) << describe(r);
    EXPECT_EQ(r.exit_status, debug_exit_status(1)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "ERROR"),
              std::vector<std::string>{"ERROR count needs a number, got 'nope'"})
        << describe(r);
}

}  // namespace
}  // namespace hypanda::test

// Each L1 machine gets 840 s (the suite takes about 250 s in one here), so
// a second one after a time-out still fits meson's 1800 s.
int main(int argc, char** argv) {
    return hypanda::test::kvm_tests_main(argc, argv, {}, std::chrono::seconds(840));
}
