// The taint2 plugin (docs/taint.md) on the test guest's taintflow workload
// (tests/guest/taintflow.S), whose data flow the source gives: every byte
// queried must carry exactly the labels of the bytes it came from.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "expected.h"
#include "model.h"
#include "run.h"

namespace hypanda::test {
namespace {

constexpr std::chrono::seconds kLimit{300};

struct Answer {
    uint64_t address = 0;
    std::string labels;  // "clean" or comma-separated
    unsigned tcn = 0;
};

// "TAINT <address> <labels> tcn <n>" or "TAINT <address> clean".
std::vector<Answer> read_answers(const std::string& text) {
    std::vector<Answer> answers;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        Answer a;
        char labels[512] = {};
        if (std::sscanf(line.c_str(), "TAINT %" SCNx64 " %511s tcn %u", &a.address, labels,
                        &a.tcn) >= 2) {
            a.labels = labels;
            answers.push_back(a);
        }
    }
    return answers;
}

// taintflow 16 (model.h): src[k] labelled k; dst = src by REP MOVSB;
// out[k] = dst[k] ^ 0x5a; out[0] = dst[0] + dst[15]. So dst[k] carries
// {k} as a pure copy (compute number 0), out[k] {k} and out[0] {0, 15},
// both computed (a number above 0: how many LLVM operations TCG's code
// for XOR and ADD takes is TCG's business).
TEST(Taint2, TaintflowBytesCarryExactlyTheLabelsOfTheirSources) {
    const uint64_t n = 16;
    TempDir dir;
    Child child(guest_args("taintflow 16", {"-cpu", "qemu64,vendor=GenuineIntel", "-panda",
                                            "taint2:out=" + dir.file("taint")}),
                {});
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("taintflow", hp_taintflow_value(n))});
    const std::vector<Answer> answers = read_answers(read_file(dir.file("taint")));
    ASSERT_EQ(answers.size(), 2 * n) << read_file(dir.file("taint"));
    for (uint64_t k = 0; k < n; k++) {
        const Answer& dst = answers[k];
        const Answer& out = answers[n + k];
        EXPECT_EQ(dst.address, answers[0].address + k);
        EXPECT_EQ(out.address, answers[n].address + k);
        EXPECT_EQ(dst.labels, std::to_string(k)) << "dst[" << k << "]";
        EXPECT_EQ(dst.tcn, 0u) << "dst[" << k << "] is a copy";
        EXPECT_EQ(out.labels, k == 0 ? std::string("0,15") : std::to_string(k))
            << "out[" << k << "]";
        EXPECT_GT(out.tcn, 0u) << "out[" << k << "] is computed";
    }
}

// Without the plugin the hypercalls are plain CPUIDs: the same RESULT.
TEST(Taint2, TaintflowRunsTheSameWithoutThePlugin) {
    RunResult r = run(guest_args("taintflow 16", {"-cpu", "qemu64,vendor=GenuineIntel"}), kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("taintflow", hp_taintflow_value(16))});
}

// An output file that cannot be made: one line naming it, and no run.
TEST(Taint2, AnOutputFileThatCannotBeMadeIsOneErrorLine) {
    TempDir dir;
    const std::string bad = dir.file("missing/answers");
    RunResult r = run(guest_args("taintflow 16", {"-panda", "taint2:out=" + bad}), kLimit);
    // (The emulator's exit status 1 for a plugin that failed to load is the
    // debug-exit device's for a clean guest exit too: the output tells.)
    EXPECT_EQ(lines_starting_with(r.err, "taint2:"),
              std::vector<std::string>{"taint2: out=" + bad + ": No such file or directory"});
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "), std::vector<std::string>{});
}

// taintbad 3 (model.h): three rounds of an unknown command and a query of
// 2 MiB. Each is one error line; the guest runs on to its RESULT.
TEST(Taint2, BadHypercallsAreOneErrorLineEach) {
    RunResult r = run(guest_args("taintbad 3", {"-panda", "taint2"}), kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("taintbad", 3)});
    const std::vector<std::string> lines = lines_starting_with(r.err, "taint2:");
    ASSERT_EQ(lines.size(), 6u) << r.err;
    const std::string too_long_start = "taint2: hypercall: 2097152 bytes at 0x";
    const std::string too_long_end = " is more than the 1048576 allowed";
    for (size_t i = 0; i < lines.size(); i += 2) {
        EXPECT_EQ(lines[i], "taint2: hypercall: unknown command 7 (1 labels, 2 queries)");
        EXPECT_EQ(lines[i + 1].compare(0, too_long_start.size(), too_long_start), 0)
            << lines[i + 1];
        EXPECT_GT(lines[i + 1].size(), too_long_start.size() + too_long_end.size());
        EXPECT_EQ(lines[i + 1].substr(lines[i + 1].size() - too_long_end.size()), too_long_end)
            << lines[i + 1];
    }
}

}  // namespace
}  // namespace hypanda::test
