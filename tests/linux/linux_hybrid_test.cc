// A real Linux guest in hybrid mode under KVM (the host's, or the nested
// route's: support/nested.h). Debian's kernel and the busybox initramfs of
// make-linux-guest boot under KVM with hplinux=hybrid, so /init runs:
//   hplinux window    switches to TCG with the hypercall device, makes six
//                     known system calls there, switches back to KVM;
//   hplinux check     the checks of linux_boot_test.cc, under KVM;
//   hplinux checksum  hashes a 1 MiB pattern round after round until the
//                     host sends a line, while the host makes 200 engine
//                     switches from the monitor under the running kernel.
// The oracles are not ours: the system-call numbers are Linux's x86-64 ABI,
// the address of hplinux's SYSCALL instruction comes from its ELF symbol
// table, the checksums are computed here from the shared pattern, and the
// kernel's own log must carry no warning.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "elf_image.h"
#include "hplinux_pattern.h"
#include "monitor.h"
#include "nested.h"
#include "run.h"

namespace hypanda::test {
namespace {

constexpr std::chrono::seconds kGuestLimit{1500};
constexpr int kMonitorSwitches = 200;

std::string guest_dir() { return build_root() + "/tests/linux"; }

std::string fnv_line(const char* what, size_t bytes, uint64_t seed) {
    std::vector<unsigned char> data(bytes);
    hplinux_fill(data.data(), data.size(), seed);
    char line[96];
    std::snprintf(line, sizeof line, "HPLINUX %s %zu 0x%016" PRIx64, what, bytes,
                  hplinux_fnv1a64(HPLINUX_FNV64_INIT, data.data(), data.size()));
    return line;
}

std::string checksum_prefix() {
    std::vector<unsigned char> data(HPLINUX_CHECKSUM_BYTES);
    hplinux_fill(data.data(), data.size(), HPLINUX_CHECKSUM_SEED);
    char line[96];
    std::snprintf(line, sizeof line, "HPLINUX checksum 0x%016" PRIx64 " rounds ",
                  hplinux_fnv1a64(HPLINUX_FNV64_INIT, data.data(), data.size()));
    return line;
}

// What the syscalls plugin logs for hplinux's window: one line per call,
// all at hplinux's one SYSCALL instruction.
std::string window_log() {
    const ElfImage hplinux = ElfImage::load(guest_dir() + "/hplinux");
    const uint64_t pc = hplinux.symbols.count("hplinux_syscall_insn") ? hplinux.symbols.at("hplinux_syscall_insn") : 0;
    std::string log;
    for (long nr : std::vector<long> HPLINUX_WINDOW_CALLS) {
        char line[80];
        std::snprintf(line, sizeof line, "PC=%016" PRIx64 ", SYSCALL=%016lx\n", pc, nr);
        log += line;
    }
    return log;
}

// Kernel log lines that mean something went wrong under the switches.
std::vector<std::string> kernel_warnings(const std::string& console) {
    std::vector<std::string> found;
    for (const auto& line : lines_starting_with(console, "")) {
        for (const char* mark : {"WARNING:", "BUG:", "Oops", "Call Trace", "rcu: INFO", "self-detected stall",
                                 "unstable", "soft lockup", "hard LOCKUP", "Kernel panic"}) {
            if (line.find(mark) != std::string::npos) {
                found.push_back(line);
                break;
            }
        }
    }
    return found;
}

// In the nested route L1's timers run at TCG's pace, so the guest kernel,
// which has no kvmclock in hybrid mode, fails to calibrate its TSC against
// the PIT or HPET and marks it unstable. It gets the rate L1 measured for
// the same TSC instead (KVM gives a guest its host's rate), so the TSC
// stays the clocksource and the kernel's watchdog checks it across every
// switch. Empty on the host route.
std::string tsc_hint() {
    if (!inside_l1()) {
        return "";
    }
    std::istringstream in(read_file("/proc/cpuinfo"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, 7, "cpu MHz") == 0) {
            const double mhz = std::stod(line.substr(line.find(':') + 1));
            return " tsc_early_khz=" + std::to_string(static_cast<uint64_t>(mhz * 1000 + 0.5));
        }
    }
    return "";
}

// syscalls2's JSON log of the window: the calls of the thread whose getpid
// returned its own id, as "name ret" (the window's process is the only one
// that runs in TCG before the monitor's switches; those run another
// process, filtered out here).
std::vector<std::string> window_calls(const std::string& log_json) {
    std::vector<nlohmann::json> calls;
    std::istringstream in(log_json);
    std::string line;
    while (std::getline(in, line)) {
        calls.push_back(nlohmann::json::parse(line, nullptr, false));
    }
    long tid = -1;
    for (const auto& c : calls) {
        if (c.is_object() && c.value("name", "") == "getpid" && c["ret"].is_number() &&
            c["ret"].get<long>() == c.value("tid", -2L)) {
            tid = c["tid"].get<long>();
            break;
        }
    }
    std::vector<std::string> out;
    for (const auto& c : calls) {
        if (c.is_object() && c.value("tid", -2L) == tid) {
            out.push_back(c.value("name", "?") + " " + (c["ret"].is_number() ? std::to_string(c["ret"].get<long>()) : "none"));
        }
    }
    return out;
}

// What hplinux's window makes (HPLINUX_WINDOW_CALLS, Linux's x86-64
// numbers 39, 110, 102, 104, 63, 1) and what each returns: its pid, its
// parent /init (pid 1), root's uid and gid, uname's 0, the line's length.
std::vector<std::string> expected_window_calls(const std::vector<std::string>& seen) {
    std::string pid = seen.empty() ? "?" : seen[0].substr(seen[0].find(' ') + 1);
    return {"getpid " + pid, "getppid 1", "getuid 0", "getgid 0", "uname 0",
            "write " + std::to_string(sizeof HPLINUX_WINDOW_LINE - 1)};
}

bool wait_for_output(Child& child, const std::string& text, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (child.out_so_far().find(text) != std::string::npos) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return false;
}

// Hybrid mode starting in TCG: the machine hybrid mode sets up (userspace
// interrupt controllers, the CPUID both engines share, no kvmclock, SMM
// off) runs a whole Linux boot and the checks, with no switch at all.
TEST(LinuxHybrid, BootsInHybridModeStartingInTcg) {
    const std::string dir = guest_dir();
    RunResult r = run({emulator(), "-accel", "kvm", "-hybrid", "on,start=tcg", "-display", "none", "-serial",
                       "stdio", "-monitor", "none", "-no-reboot", "-m", "256", "-device",
                       "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", dir + "/vmlinuz", "-initrd",
                       dir + "/initramfs.cpio.gz", "-append", "console=ttyS0 panic=-1"},
                      kGuestLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "HPLINUX file "),
              std::vector<std::string>{fnv_line("file", HPLINUX_FILE_BYTES, HPLINUX_FILE_SEED)});
    EXPECT_EQ(lines_starting_with(r.out, "HPLINUX pipe "),
              std::vector<std::string>{fnv_line("pipe", HPLINUX_PIPE_BYTES, HPLINUX_PIPE_SEED)});
    EXPECT_EQ(lines_starting_with(r.out, "HPLINUX fork-exit "), std::vector<std::string>{"HPLINUX fork-exit 42"});
    EXPECT_EQ(lines_starting_with(r.out, "HPLINUX done"), std::vector<std::string>{"HPLINUX done"});
    EXPECT_EQ(lines_starting_with(r.out, "HPLINUX error"), std::vector<std::string>{});
    EXPECT_EQ(lines_starting_with(r.out, "HPLINUX window"), std::vector<std::string>{});
}

TEST(LinuxHybrid, BootsUnderKvmWithATcgWindowMonitorSwitchesAndARecording) {
    const std::string dir = guest_dir();
    TempDir tmp;
    const std::string rec = tmp.file("window");
    Child guest({emulator(), "-accel", "kvm", "-hybrid", "on,stats=" + tmp.file("stats"), "-device",
                 "hypanda-hypercall", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
                 "-m", "256", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", dir + "/vmlinuz",
                 "-initrd", dir + "/initramfs.cpio.gz", "-append", "console=ttyS0 panic=-1 hplinux=hybrid" + tsc_hint(),
                 "-qmp", "unix:" + tmp.file("qmp") + ",server=on,wait=off", "-record-from", ":" + rec, "-panda",
                 "syscalls:file=" + tmp.file("window.txt") + ";syscalls2:log_format=json,log=" +
                     tmp.file("window.json")},
                {}, true);
    Qmp qmp(tmp.file("qmp"));
    ASSERT_TRUE(qmp.connected());

    // The window is over once the checksum runs: the plugin has logged all
    // it will of it. Unloaded now, it sees none of the monitor's windows.
    const bool running = wait_for_output(guest, "HPLINUX checksum running", kGuestLimit);
    EXPECT_TRUE(running) << guest.out_so_far();
    EXPECT_EQ(qmp.execute("panda-unload-plugin", {{"index", 0}}), nlohmann::json({{"return", nlohmann::json::object()}}));
    int switched = 0;
    for (int i = 0; running && i < kMonitorSwitches; i++) {
        const std::string engine = i % 2 == 0 ? "tcg" : "kvm";
        auto reply = qmp.execute("hybrid-switch", {{"engine", engine}});
        ASSERT_EQ(reply["return"]["engine"], engine) << "switch " << i << ": " << reply.dump();
        switched++;
    }
    guest.write_stdin("stop\n");
    RunResult r = guest.wait(kGuestLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(switched, kMonitorSwitches);

    const std::string& out = r.out;
    EXPECT_EQ(lines_starting_with(out, "HPLINUX window "),
              std::vector<std::string>{"HPLINUX window engines 2 1 2 answers 0x0 0x0"});
    EXPECT_EQ(lines_starting_with(out, "HPLINUX in the window"), std::vector<std::string>{"HPLINUX in the window"});
    EXPECT_EQ(read_file(tmp.file("window.txt")), window_log());
    // syscalls2 (with osi finding the kernel's BTF in the window) names the
    // window's calls and matches their returns.
    const auto live_calls = window_calls(read_file(tmp.file("window.json")));
    EXPECT_EQ(live_calls, expected_window_calls(live_calls));
    EXPECT_EQ(lines_starting_with(out, "HPLINUX file "),
              std::vector<std::string>{fnv_line("file", HPLINUX_FILE_BYTES, HPLINUX_FILE_SEED)});
    EXPECT_EQ(lines_starting_with(out, "HPLINUX pipe "),
              std::vector<std::string>{fnv_line("pipe", HPLINUX_PIPE_BYTES, HPLINUX_PIPE_SEED)});
    EXPECT_EQ(lines_starting_with(out, "HPLINUX fork-exit "), std::vector<std::string>{"HPLINUX fork-exit 42"});
    EXPECT_EQ(lines_starting_with(out, "HPLINUX done"), std::vector<std::string>{"HPLINUX done"});
    const auto checksum = lines_starting_with(out, "HPLINUX checksum 0x");
    ASSERT_EQ(checksum.size(), 1u) << out;
    EXPECT_EQ(checksum[0].substr(0, checksum_prefix().size()), checksum_prefix());
    EXPECT_EQ(lines_starting_with(out, "HPLINUX error"), std::vector<std::string>{});
    EXPECT_EQ(kernel_warnings(out), std::vector<std::string>{});
    // The TSC (tsc-early, or tsc once refined) is the clocksource, so the
    // kernel's watchdog compares it with the HPET while the switches happen
    // (a TSC that jumped would be marked unstable, which kernel_warnings
    // catches). In the nested route the HPET reads so slowly that the
    // watchdog skips its skew test ("clock-skew test skipped"); there the
    // switch workloads' own TSC checks are what shows it never goes back.
    bool tsc_clocksource = false;
    for (const auto& line : lines_starting_with(out, "")) {
        tsc_clocksource |= line.find("clocksource: Switched to clocksource tsc") != std::string::npos;
    }
    EXPECT_TRUE(tsc_clocksource) << "the kernel did not take the TSC as its clocksource";

    // The hypercall window and the monitor's: 1 + 100 each way.
    const auto stats = nlohmann::json::parse(read_file(tmp.file("stats")), nullptr, false);
    EXPECT_EQ(stats["tcg"]["switches-to"], 1 + kMonitorSwitches / 2) << stats.dump();
    EXPECT_EQ(stats["kvm"]["switches-to"], 1 + kMonitorSwitches / 2) << stats.dump();

    // The window's recording replays offline, without KVM, to the same
    // instruction count, RAM and system calls.
    const uint64_t insns =
        nlohmann::json::parse(read_file(rec + "/manifest.json"), nullptr, false).value("instructions", uint64_t{0});
    EXPECT_GT(insns, 0u);
    RunResult replay = run({emulator(), "-replay", rec, "-panda",
                            "syscalls:file=" + tmp.file("replay.txt") + ";syscalls2:log_format=json,log=" +
                                tmp.file("replay.json")},
                           std::chrono::seconds(600));
    ASSERT_EQ(replay.exit_status, 0) << describe(replay);
    EXPECT_EQ(lines_starting_with(replay.err, "replay verified"),
              std::vector<std::string>{"replay verified: " + std::to_string(insns) + " instructions, RAM hash ok"});
    EXPECT_EQ(read_file(tmp.file("replay.txt")), window_log());
    EXPECT_EQ(window_calls(read_file(tmp.file("replay.json"))), live_calls);
    std::filesystem::remove_all(rec);

    if (::testing::Test::HasFailure()) {
        std::cout << "---- guest serial output ----\n" << out << "\n---- emulator stderr ----\n" << r.err << std::endl;
    }
}

}  // namespace
}  // namespace hypanda::test

// Each L1 machine gets 840 s (the suite takes about 250 s in one here), so
// a second one after a time-out still fits meson's 1800 s.
int main(int argc, char** argv) {
    const std::string dir = hypanda::test::build_root() + "/tests/linux";
    return hypanda::test::kvm_tests_main(argc, argv, {dir + "/vmlinuz", dir + "/initramfs.cpio.gz", dir + "/hplinux"},
                                         std::chrono::seconds(840));
}
