// Runs the emulator (or any program) as a child process for integration
// tests: bounded in time, output captured, exit status decoded. A test that
// hangs is a failed test with the output so far, never a stuck suite.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hypanda::test {

struct RunResult {
    // Exit status when the process exited normally; empty when it was killed
    // by a signal (including our own kill at the time limit).
    std::optional<int> exit_status;
    bool timed_out = false;
    std::string out;  // standard output
    std::string err;  // standard error
};

// Runs argv[0] with the given arguments. After `limit` the child gets
// SIGKILL and the result says timed_out.
[[nodiscard]] RunResult run(const std::vector<std::string>& argv,
                            std::chrono::seconds limit);

// The same with the child's output going straight to ours (so a long run
// shows as it goes); `out` and `err` stay empty. At the time limit,
// `at_time_limit` (when given) runs before the child is killed, to say what
// it was doing.
[[nodiscard]] RunResult run_showing_output(const std::vector<std::string>& argv,
                                           std::chrono::seconds limit,
                                           const std::function<void()>& at_time_limit = {});

// A child started now and waited for later (while a test talks to its
// monitor). Its output goes to files, so it never blocks on a full pipe.
class Child {
public:
    // With `stdin_pipe` the child's standard input is a pipe that
    // write_stdin() feeds (else /dev/null).
    explicit Child(const std::vector<std::string>& argv,
                   const std::vector<std::string>& extra_env = {}, bool stdin_pipe = false);
    ~Child();  // kills the child if it is still running
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    // Waits up to `limit` for the child to exit (then SIGKILL).
    [[nodiscard]] RunResult wait(std::chrono::seconds limit);
    void signal(int sig);
    // Writes `text` to the child's standard input (see the constructor).
    void write_stdin(const std::string& text);
    // Standard output so far.
    [[nodiscard]] std::string out_so_far() const;

private:
    int pid_ = -1;
    int stdin_fd_ = -1;
    std::string dir_;
    std::string start_error_;
};

// A fresh temporary folder, removed with its contents at destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// The whole content of a file ("" if it cannot be read).
[[nodiscard]] std::string read_file(const std::string& path);

// "name value" lines, as the probe plugin and the QEMU counter write them.
[[nodiscard]] std::map<std::string, uint64_t> read_counts(const std::string& path);

// "0x..." in lower case.
[[nodiscard]] std::string hex(uint64_t v);

// Exit status, time-out and both outputs, for a failed assertion's message.
[[nodiscard]] std::string describe(const RunResult& r);

// The build tree's root, from HYPANDA_BUILD_ROOT (set by meson for every
// test); aborts the test program with a clear message when unset.
[[nodiscard]] std::string build_root();

// build_root()/bin/hypanda-system-x86_64.
[[nodiscard]] std::string emulator();

// Lines of `text` that start with `prefix`.
[[nodiscard]] std::vector<std::string> lines_starting_with(const std::string& text,
                                                           const std::string& prefix);

// The one line of `text` starting with `prefix`; a description of the
// problem instead when there is none or more than one, so a comparison
// fails with a readable message.
[[nodiscard]] std::string only_line(const std::string& text, const std::string& prefix);

// The arguments every test-guest run shares: no display, the first serial
// port on standard output, the debug-exit device at 0xf4, the guest kernel,
// and the workload command line. Extra QEMU arguments follow.
[[nodiscard]] std::vector<std::string> guest_args(const std::string& append,
                                                  const std::vector<std::string>& extra = {});

// Whether /dev/kvm can be opened and answers as KVM; if not, why.
[[nodiscard]] bool kvm_usable(std::string* why);

// QEMU's isa-debug-exit turns the guest's code C into exit status 2*C+1.
[[nodiscard]] constexpr int debug_exit_status(int guest_code) { return guest_code * 2 + 1; }

}  // namespace hypanda::test
