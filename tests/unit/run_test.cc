// The integration tests' process runner.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include "run.h"

namespace hypanda::test {
namespace {

TEST(Run, CapturesOutputAndExitStatus) {
    RunResult r = run({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, std::chrono::seconds(10));
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
}

TEST(Run, KillsAChildThatOutlivesItsLimit) {
    RunResult r = run({"/bin/sh", "-c", "echo started; exec sleep 30"}, std::chrono::seconds(1));
    EXPECT_TRUE(r.timed_out);
    EXPECT_FALSE(r.exit_status.has_value());
    EXPECT_EQ(r.out, "started\n");
}

TEST(Run, ReportsAProgramThatCannotStart) {
    RunResult r = run({"/nonexistent/program"}, std::chrono::seconds(1));
    EXPECT_FALSE(r.exit_status.has_value());
    EXPECT_EQ(r.err, "cannot start /nonexistent/program: No such file or directory");
}

TEST(Run, SelectsLinesByPrefix) {
    EXPECT_EQ(lines_starting_with("RESULT a 1\r\nnoise\nRESULT b 2", "RESULT "),
              (std::vector<std::string>{"RESULT a 1", "RESULT b 2"}));
}

}  // namespace
}  // namespace hypanda::test
