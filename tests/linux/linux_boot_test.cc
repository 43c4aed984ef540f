// Boots a stock Debian kernel with a busybox initramfs (made by
// make-linux-guest) under the emulator with TCG, and checks the exact lines
// our static guest program hplinux prints: the kernel release, checksums of
// data moved through a tmpfs file and a pipe, and a child's exit status.
// The host computes the expected checksums itself from the shared pattern.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "hplinux_pattern.h"
#include "run.h"

namespace {

using hypanda::test::build_root;
using hypanda::test::debug_exit_status;
using hypanda::test::emulator;
using hypanda::test::lines_starting_with;
using hypanda::test::only_line;
using hypanda::test::run;

constexpr std::chrono::seconds kBootLimit{240};

std::string guest_dir() { return build_root() + "/tests/linux"; }

bool readable(const std::string& path) { return std::ifstream(path).good(); }

// The first line of a file, or empty if there is none.
std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// "HPLINUX <what> <bytes> 0x<fnv>" for the pattern hplinux moves around,
// computed here on the host.
std::string checksum_line(const char* what, size_t bytes, uint64_t seed) {
    std::vector<unsigned char> data(bytes);
    hplinux_fill(data.data(), data.size(), seed);
    const uint64_t hash = hplinux_fnv1a64(HPLINUX_FNV64_INIT, data.data(), data.size());
    char line[96];
    std::snprintf(line, sizeof line, "HPLINUX %s %zu 0x%016" PRIx64, what, bytes, hash);
    return line;
}

// Boots the Linux guest with `accel_args` and checks everything hplinux
// prints.
void boot_and_check(const std::vector<std::string>& accel_args, std::chrono::seconds limit = kBootLimit) {
    const std::string dir = guest_dir();
    for (const char* file : {"vmlinuz", "initramfs.cpio.gz", "kernel-release"}) {
        ASSERT_TRUE(readable(dir + "/" + file))
            << dir << "/" << file << " is missing; build the guest first "
            << "(ninja -C build tests/linux/" << file << ")";
    }
    const std::string release = first_line(dir + "/kernel-release");
    ASSERT_FALSE(release.empty()) << dir << "/kernel-release is empty";

    std::vector<std::string> args = {emulator()};
    args.insert(args.end(), accel_args.begin(), accel_args.end());
    args.insert(args.end(),
                {"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-m", "512",
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", dir + "/vmlinuz",
                 "-initrd", dir + "/initramfs.cpio.gz", "-append", "console=ttyS0 panic=-1"});
    const auto result = hypanda::test::Child(args, {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"}).wait(limit);

    EXPECT_FALSE(result.timed_out) << "the guest did not stop within " << limit.count()
                                   << " s";
    EXPECT_EQ(result.exit_status, debug_exit_status(0))
        << "the guest should stop with 'hplinux exit 0' (code 3 means a check failed)";

    const std::string& out = result.out;
    EXPECT_EQ(only_line(out, "HPLINUX kernel "), "HPLINUX kernel " + release);
    EXPECT_EQ(only_line(out, "HPLINUX file "),
              checksum_line("file", HPLINUX_FILE_BYTES, HPLINUX_FILE_SEED));
    EXPECT_EQ(only_line(out, "HPLINUX fork-exit "), "HPLINUX fork-exit 42");
    EXPECT_EQ(only_line(out, "HPLINUX pipe "),
              checksum_line("pipe", HPLINUX_PIPE_BYTES, HPLINUX_PIPE_SEED));
    EXPECT_EQ(only_line(out, "HPLINUX done"), "HPLINUX done");
    EXPECT_EQ(lines_starting_with(out, "HPLINUX error"), std::vector<std::string>{});

    if (::testing::Test::HasFailure()) {
        std::cout << "---- guest serial output ----\n"
                  << out << "\n---- emulator stderr ----\n"
                  << result.err << "\n---- end ----" << std::endl;
    }
}

TEST(LinuxGuest, BootsUnderTcgAndRunsTheSyscallChecks) { boot_and_check({"-accel", "tcg"}); }

// The whole boot with every block on the LLVM engine (docs/llvm.md): the
// same hplinux lines, and the blocks and instructions QEMU's plugin API
// counts (its inline counters are TCG ops, lifted with the rest) equal to
// the probe's.
TEST(LinuxGuest, BootsInLlvmModeWithTheSameChecksAndCounts) {
    hypanda::test::TempDir tmp;
    boot_and_check({"-accel", "tcg", "-plugin", build_root() + "/tests/qemu-plugins/libcounter.so,out=" + tmp.file("qemu"),
                    "-panda", "probe:llvm=1,cbs=bbe+insn,output=" + tmp.file("probe")},
                   std::chrono::seconds(1500));
    auto qemu = hypanda::test::read_counts(tmp.file("qemu"));
    auto probe = hypanda::test::read_counts(tmp.file("probe"));
    EXPECT_GT(qemu["blocks"], 100000000u);
    EXPECT_EQ(probe["bbe"], qemu["blocks"]);
    EXPECT_EQ(probe["insn"], qemu["insns"]);
    EXPECT_EQ(probe["llvm_bbe"], probe["llvm_blocks"]);
    EXPECT_EQ(probe["llvm_blocks"], probe["bbe"]);
}

// Counts every executed block and instruction of the whole boot with
// Hypanda's callbacks (the probe test plugin) and with QEMU's own plugin API
// (tests/qemu-plugins/counter.c) in the same run: they must agree exactly.
TEST(LinuxGuest, BootCountsAgreeWithQemuPluginApi) {
    const std::string dir = guest_dir();
    char tmpl[] = "/tmp/hypanda-linux-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string tmp = tmpl;
    hypanda::test::Child child(
        {emulator(), "-accel", "tcg", "-display", "none", "-serial", "stdio", "-monitor", "none",
         "-no-reboot", "-m", "512", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel",
         dir + "/vmlinuz", "-initrd", dir + "/initramfs.cpio.gz", "-append", "console=ttyS0 panic=-1",
         "-plugin", build_root() + "/tests/qemu-plugins/libcounter.so,out=" + tmp + "/qemu",
         "-panda", "probe:cbs=bbe+insn,output=" + tmp + "/probe"},
        {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
    const auto result = child.wait(std::chrono::seconds(500));
    EXPECT_EQ(result.exit_status, debug_exit_status(0)) << result.err;
    EXPECT_EQ(only_line(result.out, "HPLINUX done"), "HPLINUX done");

    auto count = [](const std::string& text, const std::string& name) {
        std::istringstream in(text);
        std::string key;
        uint64_t value;
        while (in >> key >> value) {
            if (key == name) {
                return value;
            }
        }
        return UINT64_MAX;
    };
    const std::string qemu = hypanda::test::read_file(tmp + "/qemu");
    const std::string probe = hypanda::test::read_file(tmp + "/probe");
    EXPECT_GT(count(qemu, "blocks"), 100000000u) << qemu;
    EXPECT_EQ(count(probe, "bbe"), count(qemu, "blocks"));
    EXPECT_EQ(count(probe, "insn"), count(qemu, "insns"));
    unlink((tmp + "/qemu").c_str());
    unlink((tmp + "/probe").c_str());
    rmdir(tmp.c_str());
}

// Records the whole boot (from power-on: firmware, kernel, busybox, hplinux)
// with the syscalls plugin, then replays it with the same plugin: the same
// system-call sequence, the same instruction count, the same RAM hash.
TEST(LinuxGuest, BootRecordsAndReplaysWithTheSameSystemCalls) {
    const std::string dir = guest_dir();
    hypanda::test::TempDir tmp;
    const std::string rec = tmp.file("boot");
    const auto recorded = run(
        {emulator(), "-accel", "tcg", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
         "-m", "512", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", dir + "/vmlinuz", "-initrd",
         dir + "/initramfs.cpio.gz", "-append", "console=ttyS0 panic=-1", "-record-from", ":" + rec, "-panda",
         "syscalls:file=" + tmp.file("record.txt")},
        kBootLimit);
    ASSERT_EQ(recorded.exit_status, debug_exit_status(0)) << recorded.err;
    EXPECT_EQ(only_line(recorded.out, "HPLINUX done"), "HPLINUX done");
    EXPECT_EQ(lines_starting_with(recorded.out, "HPLINUX error"), std::vector<std::string>{});
    const std::string calls = hypanda::test::read_file(tmp.file("record.txt"));
    // hplinux alone makes dozens of system calls (writes, a fork, a pipe).
    EXPECT_GT(std::count(calls.begin(), calls.end(), '\n'), 100);

    const auto replayed = run({emulator(), "-replay", rec, "-panda", "syscalls:file=" + tmp.file("replay.txt")},
                              kBootLimit);
    ASSERT_EQ(replayed.exit_status, 0) << replayed.err;
    const uint64_t insns = nlohmann::json::parse(hypanda::test::read_file(rec + "/manifest.json"))
                               .at("instructions")
                               .get<uint64_t>();
    EXPECT_EQ(lines_starting_with(replayed.err, "replay verified"),
              std::vector<std::string>{"replay verified: " + std::to_string(insns) + " instructions, RAM hash ok"});
    EXPECT_EQ(hypanda::test::read_file(tmp.file("replay.txt")), calls);
}

}  // namespace
