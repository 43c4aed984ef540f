// The integration tests' process runner.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

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

// The hook runs once, at the limit, while the child still runs (the nested
// route asks L0's monitor for L1's registers there).
TEST(Run, ShowingOutputCallsTheTimeLimitHookBeforeTheKill) {
    int calls = 0;
    bool alive_at_hook = false;
    TempDir dir;
    const std::string pid_file = dir.file("pid");
    RunResult r = run_showing_output({"/bin/sh", "-c", "echo $$ > " + pid_file + "; exec sleep 30"},
                                     std::chrono::seconds(1), [&] {
                                         calls++;
                                         const pid_t pid = std::stoi(read_file(pid_file));
                                         alive_at_hook = kill(pid, 0) == 0;
                                     });
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(alive_at_hook);
    RunResult quick = run_showing_output({"/bin/true"}, std::chrono::seconds(10), [&] { calls++; });
    EXPECT_EQ(quick.exit_status, 0);
    EXPECT_EQ(calls, 1);
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
