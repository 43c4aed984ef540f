// The nested KVM route (see nested.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "nested.h"

#include <cpuid.h>
#include <dirent.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "monitor.h"
#include "run.h"

namespace hypanda::test {
namespace {

// L1's size: the initramfs (a few hundred MB unpacked) lives in its RAM,
// and the L2 guests with it.
constexpr const char* kL1Memory = "3072";

std::string env_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v == nullptr ? "" : v;
}

// 'text' for sh, whatever it holds.
std::string shell_quote(const std::string& text) {
    std::string q = "'";
    for (char c : text) {
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return q + "'";
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// What L1's CPU is doing, from L0's monitor: its registers twice, two
// seconds apart (a RIP that moves is a machine that still runs). Printed
// when L1 runs out of time, before it is killed.
void show_l1_state(const std::string& hmp_socket) {
    Hmp hmp(hmp_socket);
    if (!hmp.connected()) {
        std::fprintf(stderr, "nested KVM route: L0's monitor %s does not answer\n", hmp_socket.c_str());
        return;
    }
    for (int i = 0; i < 2; i++) {
        if (i > 0) {
            sleep(2);
        }
        std::fprintf(stderr, "nested KVM route: L1 out of time; L0's 'info registers' (%d of 2):\n%s\n", i + 1,
                     hmp.command("info registers").c_str());
    }
}

// Whether this machine's CPU offers hardware virtualization (the vmx or svm
// flag in /proc/cpuinfo). A /dev/kvm without it is a KVM that runs guests by
// other means (PVM, the kvm_pvm module, seen on CI machines): it ignores the
// CPU model QEMU sets (a qemu64 guest sees the host's XSAVE and AVX) and
// cannot emulate an XRSTOR the test guest runs, so a run under KVM alone
// stops with "KVM internal error ... emulation failure".
bool hardware_virtualization() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.compare(0, 5, "flags") == 0) {
            return (line + " ").find(" vmx ") != std::string::npos || (line + " ").find(" svm ") != std::string::npos;
        }
    }
    return false;
}

// What every L1 run needs from the build tree: the emulator and what it
// opens (firmware, bundled and test plugins) and the test guest.
std::vector<std::string> build_tree_files() {
    const std::string root = build_root();
    std::vector<std::string> files = {emulator(), root + "/bin/panda_plugins", root + "/share/qemu",
                                      root + "/tests/guest/hptest.elf", root + "/tests/guest/hptest64.elf"};
    if (DIR* d = opendir((root + "/tests/plugins").c_str())) {
        while (dirent* e = readdir(d)) {
            std::string name = e->d_name;
            if (name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0) {
                files.push_back(root + "/tests/plugins/" + name);
            }
        }
        closedir(d);
    }
    return files;
}

}  // namespace

std::optional<KvmRoute> choose_kvm_route(std::string* why) {
    const std::string asked = env_or_empty("HYPANDA_KVM_ROUTE");
    if (asked == "host") {
        *why = "HYPANDA_KVM_ROUTE=host";
        return KvmRoute::kHost;
    }
    if (asked == "nested") {
        *why = "HYPANDA_KVM_ROUTE=nested";
        return KvmRoute::kNested;
    }
    if (!asked.empty() && asked != "auto") {
        *why = "HYPANDA_KVM_ROUTE=" + asked + " is not understood (expected host, nested or auto)";
        return std::nullopt;
    }
    std::string kvm_why;
    if (kvm_usable(&kvm_why)) {
        if (!hardware_virtualization()) {
            *why = "this machine's /dev/kvm runs without hardware virtualization (no vmx or svm in /proc/cpuinfo" +
                   std::string(exists("/sys/module/kvm_pvm") ? ", module kvm_pvm" : "") +
                   "), which does not run every guest KVM runs";
            return KvmRoute::kNested;
        }
        *why = "this machine's /dev/kvm";
        return KvmRoute::kHost;
    }
    *why = kvm_why;
    return KvmRoute::kNested;
}

bool inside_l1() { return env_or_empty("HYPANDA_IN_L1") == "1"; }

std::string cpu_vendor() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    __get_cpuid(0, &a, &b, &c, &d);
    char vendor[13];
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    return vendor;
}

L1Result run_in_l1(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   const std::vector<std::string>& files, const std::string& results_dir,
                   std::chrono::seconds limit) {
    L1Result result;
    const std::string linux_dir = build_root() + "/tests/linux";
    for (const char* f : {"vmlinuz", "kvm-amd.ko"}) {
        if (!exists(linux_dir + "/" + f)) {
            result.error = linux_dir + "/" + f + " is missing; build it with 'ninja -C " + build_root() +
                           " tests/linux/vmlinuz'";
            return result;
        }
    }
    TempDir work;
    std::string script = "#!/bin/sh\n";
    script += "export HYPANDA_BUILD_ROOT=" + shell_quote(build_root()) + "\n";
    // L1's console is a terminal, so GoogleTest would colour its output;
    // the colour codes would end up in meson's XML report, which then
    // cannot be parsed.
    script += "export HYPANDA_IN_L1=1 TMPDIR=/tmp GTEST_COLOR=no\n";
    for (const auto& e : env) {
        script += "export " + shell_quote(e) + "\n";
    }
    script += "cd /tmp\nexec";
    for (const auto& a : argv) {
        script += " " + shell_quote(a);
    }
    script += "\n";
    std::ofstream(work.file("run")) << script;

    std::vector<std::string> make = {HYPANDA_L1_INITRAMFS_SCRIPT, work.file("initramfs.cpio"), linux_dir,
                                     work.file("run")};
    for (const auto& f : build_tree_files()) {
        make.push_back(f);
    }
    make.insert(make.end(), files.begin(), files.end());
    RunResult made = run(make, std::chrono::seconds(300));
    if (made.exit_status != 0) {
        result.error = "cannot make L1's initramfs: " + describe(made);
        return result;
    }

    const std::string serial = work.file("results.tar");
    const std::string hmp_socket = work.file("l0.hmp");
    RunResult l0 = run_showing_output(
        {emulator(), "-accel", "tcg", "-cpu", "max", "-m", kL1Memory, "-smp", "1", "-display", "none", "-monitor",
         "unix:" + hmp_socket + ",server=on,wait=off", "-no-reboot", "-serial", "stdio", "-serial", "file:" + serial,
         "-kernel", linux_dir + "/vmlinuz", "-initrd", work.file("initramfs.cpio"), "-append",
         "console=ttyS0 quiet loglevel=3 panic=-1"},
        limit, [&hmp_socket] { show_l1_state(hmp_socket); });
    if (l0.timed_out) {
        result.timed_out = true;
        result.error = "L1 did not finish within " + std::to_string(limit.count()) + " s";
        return result;
    }
    if (l0.exit_status != 0) {
        result.error = "L1's emulator ended with " + describe(l0);
        return result;
    }
    RunResult untar = run({"tar", "-xf", serial, "-C", results_dir}, std::chrono::seconds(60));
    if (untar.exit_status != 0) {
        result.error = "L1 sent no results (it stopped before its program finished?): " + untar.err;
        return result;
    }
    result.results = results_dir;
    std::ifstream status_file(results_dir + "/status");
    int status = -1;
    if (!(status_file >> status)) {
        result.error = "L1 sent results without an exit status";
        return result;
    }
    if (status == 125) {
        result.error = "L1 has no /dev/kvm (see the kernel's lines above)";
        return result;
    }
    result.status = status;
    return result;
}

int rerun_tests_in_l1(int argc, char** argv, const std::vector<std::string>& files, std::chrono::seconds limit) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        std::fprintf(stderr, "error: cannot find this test program (/proc/self/exe): %s\n", std::strerror(errno));
        return 1;
    }
    self[n] = '\0';
    const std::string xml_flag = "--gtest_output=xml:";
    std::string xml_path;
    std::vector<std::string> args = {self};
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a.compare(0, xml_flag.size(), xml_flag) == 0) {
            xml_path = a.substr(xml_flag.size());
            a = xml_flag + "/results/tests.xml";
        }
        args.push_back(a);
    }
    std::vector<std::string> all_files = files;
    all_files.push_back(self);
    TempDir first, second;
    L1Result r = run_in_l1(args, {"HYPANDA_KVM_ROUTE=nested"}, all_files, first.path(), limit);
    if (!r.status && r.timed_out) {
        // An L1 that stops making progress is the emulated machine under
        // the tests, not the tests (seen once on a CI machine, not
        // reproduced). Its state is printed above; a fresh L1 runs the
        // same tests once more, and that run's result is the result.
        std::fprintf(stderr, "nested KVM route: %s; running the tests once more in a fresh L1\n", r.error.c_str());
        r = run_in_l1(args, {"HYPANDA_KVM_ROUTE=nested"}, all_files, second.path(), limit);
    }
    if (!r.status) {
        std::fprintf(stderr, "error: nested KVM route: %s\n", r.error.c_str());
        return 1;
    }
    if (!xml_path.empty()) {
        std::ifstream in(r.results + "/tests.xml", std::ios::binary);
        std::ofstream out(xml_path, std::ios::binary);
        out << in.rdbuf();
    }
    return *r.status;
}

int kvm_tests_main(int argc, char** argv, const std::vector<std::string>& files, std::chrono::seconds limit) {
    if (inside_l1()) {
        std::printf("kvm route: nested, running inside L1 (CPU vendor %s)\n", cpu_vendor().c_str());
    } else {
        std::string why;
        std::optional<KvmRoute> route = choose_kvm_route(&why);
        if (!route) {
            std::fprintf(stderr, "error: %s\n", why.c_str());
            return 1;
        }
        if (*route == KvmRoute::kNested) {
            std::printf("kvm route: nested (%s): the tests run in an L1 machine under TCG, whose KVM runs on "
                        "QEMU's emulated AMD SVM\n",
                        why.c_str());
            return rerun_tests_in_l1(argc, argv, files, limit);
        }
        std::string unusable;
        if (!kvm_usable(&unusable)) {
            std::printf("SKIP: %s, and HYPANDA_KVM_ROUTE=host rules out the nested route\n", unusable.c_str());
            return 77;
        }
        std::printf("kvm route: host (%s, CPU vendor %s)\n", why.c_str(), cpu_vendor().c_str());
    }
    std::fflush(stdout);
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}

}  // namespace hypanda::test
