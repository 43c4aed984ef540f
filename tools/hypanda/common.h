// What the hypanda subcommands share: exit statuses, finding and running
// the emulator, and error lines.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <string>
#include <vector>

#include "analysis.h"
#include "commands.h"

namespace hypanda::cli {

// Exit statuses scripts can rely on (docs/cli.md).
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // the work failed; one "hypanda: ..." line says why
constexpr int kExitUsage = 2;   // the command line was wrong

// Prints "hypanda: WHAT" on standard error; returns kExitFailed.
int fail(const std::string& what);

// `path` made absolute (resolved when it exists), for what another process
// with another working folder (libvirt, the emulator) will open.
[[nodiscard]] std::string absolute_path(const std::string& path);

// The emulator: $HYPANDA_EMULATOR, else next to this tool as invoked
// (build/bin links both), else next to its binary, else on the PATH.
[[nodiscard]] std::string emulator_path(const char* argv0);

// Runs a program and waits for it; with `capture`, its standard error is
// returned in *err instead of shown, and its standard output goes to our
// standard error (so that ours can hold a JSON document alone). Its exit
// status, 128+signal when killed, or -1 when it could not start (*err says
// why).
[[nodiscard]] int run_emulator(const std::vector<std::string>& args, bool capture, std::string* err);

// The analysis settings of --plugin/--hybrid/--hypercall..., shared by
// `run` and `domain create` so both give the emulator the same options.
// Plugins are "name[:key=value,...]"; fails on one that is not.
[[nodiscard]] bool analysis_of(const GuestOptions& o, const std::string& recordings, libvirt::Analysis* out,
                               std::string* err);

}  // namespace hypanda::cli
