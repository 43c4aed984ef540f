// The nested KVM route (docs/test-guest.md): on a machine without /dev/kvm,
// tests that need KVM run inside an L1 machine, Debian's kernel booted under
// our own emulator with TCG and -cpu max, whose kvm-amd module gets a
// /dev/kvm from QEMU's emulated AMD SVM with nested paging. These helpers
// choose the route, boot L1 with a program to run, and bring its results
// back.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace hypanda::test {

enum class KvmRoute { kHost, kNested };

// HYPANDA_KVM_ROUTE picks the route: "host" (this machine's /dev/kvm),
// "nested" (always L1, also where /dev/kvm exists), or unset / "auto" (the
// host's /dev/kvm when it is usable and the CPU has vmx or svm, else nested). `why` says what decided;
// empty result for an unknown value, with the error in `why`.
[[nodiscard]] std::optional<KvmRoute> choose_kvm_route(std::string* why);

// True in a program that the nested route started inside L1.
[[nodiscard]] bool inside_l1();

// The CPUID vendor string of the CPU this program runs on ("AuthenticAMD",
// "GenuineIntel"); inside L1 that is the CPU our TCG emulates.
[[nodiscard]] std::string cpu_vendor();

// What a program run inside L1 gave.
struct L1Result {
    std::optional<int> status;  // the program's exit status, if L1 reported one
    std::string error;          // why there is none: boot failure, no /dev/kvm, time-out
    bool timed_out = false;     // L1 was stopped at the time limit
    std::string results;        // a folder on the host with what it left in /results
};

// Boots L1 and runs `argv` there, with `env` ("NAME=value") added to the
// environment, HYPANDA_BUILD_ROOT set as here, HYPANDA_IN_L1=1, and the
// current folder a fresh /tmp. The program writes what the host should get
// back into /results. `files` (absolute paths: files or folders) are put
// into L1 at the same paths, with the libraries their ELF files need; the
// emulator, its firmware and the test plugins are always there. L1's
// console (the program's output) goes to this program's standard output as
// it comes. After `limit` L1 is stopped. `results_dir` must exist.
[[nodiscard]] L1Result run_in_l1(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                                 const std::vector<std::string>& files, const std::string& results_dir,
                                 std::chrono::seconds limit);

// For a gtest main(): runs this same test program inside L1 with the same
// arguments, except that --gtest_output=xml:PATH is written in L1 and
// copied to PATH. An L1 stopped at the time limit (its CPU state printed
// first) is run once more, fresh. Returns the exit status to return from
// main().
[[nodiscard]] int rerun_tests_in_l1(int argc, char** argv, const std::vector<std::string>& files,
                                    std::chrono::seconds limit);

// main() of a test program that needs KVM: prints the route on its first
// line, then runs the tests here (host route, or already inside L1) or in
// L1 (rerun_tests_in_l1 with `files`). Exit status 77 (skip) only when
// HYPANDA_KVM_ROUTE=host and this machine has no usable /dev/kvm.
[[nodiscard]] int kvm_tests_main(int argc, char** argv, const std::vector<std::string>& files,
                                 std::chrono::seconds limit);

}  // namespace hypanda::test
