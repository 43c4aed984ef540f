// Analysis domains under a real libvirt 9.0 (docs/libvirt.md): the suite
// starts virtlogd and libvirtd itself when none runs (and stops them after),
// installs the build's hook as /etc/libvirt/hooks/qemu.d/hypanda for the run,
// defines domains booting the test guest with our emulator, and drives them
// with virsh and with the hypanda tool. Exact answers come from the test
// guest: its RESULT lines, insn_count over the count loop, replays that
// verify. It needs root (libvirt's system instance); the KVM test needs
// /dev/kvm, and runs the short `switchgpr` workload (the nested hypervisor
// here emulates a guest slowly after its first exit).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "elf_image.h"
#include "expected.h"
#include "model.h"
#include "run.h"

using namespace hypanda::test;
using nlohmann::json;

namespace {

constexpr auto kLimit = std::chrono::seconds(120);
const std::string kUri = "qemu:///system";
const std::string kHookPath = "/etc/libvirt/hooks/qemu.d/hypanda";
const std::string kWork = "/var/lib/hypanda-test";

// The suite installs the build (meson install --destdir) under kWork, the
// layout `make install` gives, where libvirt-qemu can reach it whatever the
// build tree's permissions; the domains use that emulator and hook.
const std::string kRoot = kWork + "/root";
const std::string kPrefix = kRoot + "/usr/local";
std::string emulator_bin() { return kPrefix + "/bin/hypanda-system-x86_64"; }
std::string installed_plugins() { return kPrefix + "/bin/../lib/hypanda/panda_plugins"; }
std::string tool() { return build_root() + "/bin/hypanda"; }
std::string guest() { return kWork + "/hptest.elf"; }
const std::vector<std::string> kDebugExit = {"--emulator-arg=-device",
                                             "--emulator-arg=isa-debug-exit,iobase=0xf4,iosize=4"};

RunResult virsh(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"virsh", "-c", kUri};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, kLimit);
}

RunResult hypanda_cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {tool()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, kLimit);
}

// An HMP command's answer, as virsh prints it, with the monitor's CRs and
// virsh's blank lines taken off: "line\n..." or "".
std::string hmp(const std::string& domain, const std::string& command) {
    RunResult r = virsh({"qemu-monitor-command", domain, "--hmp", command});
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    std::string out;
    for (char c : r.out) {
        if (c != '\r') {
            out += c;
        }
    }
    while (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    return out.empty() ? out : out + "\n";
}

bool wait_until_shut_off(const std::string& domain, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (virsh({"domstate", domain}).out == "shut off\n\n") {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
}

pid_t pid_from(const std::string& file) {
    std::ifstream in(file);
    pid_t pid = 0;
    return (in >> pid) ? pid : 0;
}

bool alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

void stop_process(pid_t pid) {
    if (!alive(pid)) {
        return;
    }
    kill(pid, SIGTERM);
    for (int i = 0; i < 150 && alive(pid); i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (alive(pid)) {
        kill(pid, SIGKILL);
    }
}

std::string count_loop_range() {
    const uint64_t start = guest_image().symbols.at("hp_count_loop");
    return "start=" + hex(start) + ",end=" + hex(guest_image().next_symbol_after(start));
}

std::string insn_count_line(uint64_t n) { return "insn_count: " + std::to_string(n) + " instructions\n"; }


uint64_t recorded_instructions(const std::string& rec) {
    json m = json::parse(read_file(rec + "/manifest.json"), nullptr, false);
    return m.is_object() ? m.value("instructions", uint64_t{0}) : 0;
}

// What the suite set up, undone in reverse at the end.
class LibvirtEnvironment : public ::testing::Environment {
public:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "the libvirt suite needs root (libvirt's system instance, its hook folder)";
        }
        ASSERT_EQ(access("/usr/sbin/libvirtd", X_OK), 0) << "libvirtd missing: run tools/install-deps as root";
        ASSERT_EQ(access("/usr/bin/virsh", X_OK), 0) << "virsh missing: run tools/install-deps as root";
        (void)run({"rm", "-rf", kWork}, kLimit);
        ASSERT_EQ(mkdir(kWork.c_str(), 0755), 0);
        chmod(kWork.c_str(), 0755);
        RunResult r = run({"meson", "install", "-C", build_root(), "--no-rebuild", "--quiet", "--destdir", kRoot},
                          kLimit);
        ASSERT_EQ(r.exit_status, 0) << describe(r);
        r = run({"install", "-m", "644", build_root() + "/tests/guest/hptest.elf", guest()}, kLimit);
        ASSERT_EQ(r.exit_status, 0) << describe(r);
        install_hook();
        start_daemons();
        open_dev_kvm();
        // libvirt runs the emulator as libvirt-qemu.
        r = run({"setpriv", "--reuid=libvirt-qemu", "--regid=kvm", "--clear-groups", emulator_bin(), "--version"},
                kLimit);
        ASSERT_EQ(r.exit_status, 0) << "libvirt-qemu cannot run " << emulator_bin() << "\n" << describe(r);
    }

    void TearDown() override {
        for (const std::string& d : created_domains()) {
            virsh({"destroy", d});
            virsh({"undefine", d});
        }
        if (started_libvirtd_) {
            stop_process(pid_from("/run/libvirtd.pid"));
        }
        if (started_virtlogd_) {
            stop_process(pid_from("/run/virtlogd.pid"));
        }
        if (kvm_changed_) {
            chown("/dev/kvm", kvm_stat_.st_uid, kvm_stat_.st_gid);
            chmod("/dev/kvm", kvm_stat_.st_mode & 07777);
        }
        unlink(kHookPath.c_str());
        if (!saved_hook_.empty()) {
            symlink(saved_hook_.c_str(), kHookPath.c_str());
        }
        (void)run({"rm", "-rf", kWork}, kLimit);
    }

    static std::vector<std::string> created_domains() {
        RunResult r = virsh({"list", "--all", "--name"});
        std::vector<std::string> out;
        for (const std::string& line : lines_starting_with(r.out, "hypanda-test-")) {
            out.push_back(line);
        }
        return out;
    }

private:
    void install_hook() {
        char target[4096];
        const ssize_t n = readlink(kHookPath.c_str(), target, sizeof target - 1);
        if (n > 0) {
            saved_hook_.assign(target, n);
        }
        ASSERT_EQ(run({"mkdir", "-p", "/etc/libvirt/hooks/qemu.d"}, kLimit).exit_status, 0);
        unlink(kHookPath.c_str());
        // What meson install made under kRoot/etc, pointing at kPrefix.
        ASSERT_EQ(symlink((kPrefix + "/libexec/hypanda-libvirt-hook").c_str(), kHookPath.c_str()), 0);
    }

    void start_daemons() {
        if (!alive(pid_from("/run/virtlogd.pid"))) {
            RunResult r = run({"virtlogd", "-d"}, kLimit);
            ASSERT_EQ(r.exit_status, 0) << describe(r);
            started_virtlogd_ = true;
        }
        const pid_t running = pid_from("/run/libvirtd.pid");
        if (alive(running)) {
            kill(running, SIGHUP);  // it looks for hooks again
        } else {
            RunResult r = run({"libvirtd", "-d"}, kLimit);
            ASSERT_EQ(r.exit_status, 0) << describe(r);
            started_libvirtd_ = true;
        }
        for (int i = 0; i < 300; i++) {
            if (virsh({"uri"}).exit_status == 0) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        FAIL() << "libvirtd did not answer within 30 s";
    }

    // Debian's udev rule makes /dev/kvm root:kvm 0660; without udev (a
    // container) it may be root-only, and libvirt-qemu cannot open it.
    void open_dev_kvm() {
        if (stat("/dev/kvm", &kvm_stat_) != 0) {
            return;
        }
        const passwd* pw = getpwnam("libvirt-qemu");
        if (pw == nullptr || (kvm_stat_.st_gid == pw->pw_gid && (kvm_stat_.st_mode & 060) == 060)) {
            return;
        }
        kvm_changed_ = chown("/dev/kvm", kvm_stat_.st_uid, pw->pw_gid) == 0 && chmod("/dev/kvm", 0660) == 0;
    }

    std::string saved_hook_;
    bool started_libvirtd_ = false;
    bool started_virtlogd_ = false;
    bool kvm_changed_ = false;
    struct stat kvm_stat_ {};
};

// A domain of the test guest made by `hypanda domain create`; removed at
// destruction.
struct TestDomain {
    std::string name;
    std::string dir;  // its recordings folder (made by the hook)
    std::string serial;

    TestDomain(const std::string& short_name, const std::string& append, const std::vector<std::string>& options) {
        name = "hypanda-test-" + short_name;
        dir = kWork + "/" + short_name;
        serial = kWork + "/" + short_name + ".serial";
        virsh({"destroy", name});
        virsh({"undefine", name});
        (void)run({"rm", "-rf", dir, serial}, kLimit);
        std::vector<std::string> args = {"domain", "create", name, "--kernel", guest(), "--append", append,
                                         "--recordings", dir, "--serial", serial, "--emulator", emulator_bin()};
        args.insert(args.end(), kDebugExit.begin(), kDebugExit.end());
        args.insert(args.end(), options.begin(), options.end());
        defined = hypanda_cli(args);
    }
    ~TestDomain() {
        virsh({"destroy", name});
        virsh({"undefine", name});
    }
    RunResult defined;
};

}  // namespace

// libvirt takes our emulator for both domain types: its QMP probe answers.
TEST(Libvirt, ProbesTheEmulator) {
    for (const char* type : {"qemu", "kvm"}) {
        if (std::string(type) == "kvm" && access("/dev/kvm", F_OK) != 0) {
            std::printf("note: no /dev/kvm: type='kvm' probing not checked\n");
            continue;
        }
        SCOPED_TRACE(type);
        RunResult r = virsh({"domcapabilities", "--emulatorbin", emulator_bin(), "--virttype", type, "--arch",
                             "x86_64", "--machine", "pc"});
        ASSERT_EQ(r.exit_status, 0) << describe(r);
        EXPECT_NE(r.out.find("<path>" + emulator_bin() + "</path>"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("<domain>" + std::string(type) + "</domain>"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("<machine>pc-i440fx-7.2</machine>"), std::string::npos) << r.out;
    }
}

// The metadata's plugin runs in a libvirt-started domain, under libvirt's
// seccomp sandbox and as libvirt-qemu; the guest's hypercalls record into
// the recordings folder the hook made, and the recording replays.
TEST(Libvirt, MetadataPluginsAndGuestRecording) {
    TestDomain d("meta", "count 5000 bracket 10 count 7000",
                 {"--plugin", "insn_count:" + count_loop_range() + ",output=" + kWork + "/meta/n.txt", "--hypercall",
                  "record", "--hypercall-record", "guest-rec"});
    ASSERT_EQ(d.defined.exit_status, 0) << describe(d.defined);
    EXPECT_EQ(d.defined.out, "domain '" + d.name + "' defined (type qemu, emulator " + emulator_bin() +
                                 "); start it with 'hypanda domain start " + d.name + "'\n");
    RunResult start = virsh({"start", d.name});
    ASSERT_EQ(start.exit_status, 0) << describe(start);
    ASSERT_TRUE(wait_until_shut_off(d.name, kLimit));
    const std::string serial = read_file(d.serial);
    EXPECT_EQ(lines_starting_with(serial, "RESULT "),
              (std::vector<std::string>{result_line("count", expected_count(5000)),
                                        result_line("bracket", expected_count(10)),
                                        result_line("count", expected_count(7000))}))
        << serial;
    EXPECT_EQ(read_file(d.dir + "/n.txt"),
              insn_count_line(hp_count_insns(5000) + hp_count_insns(10) + hp_count_insns(7000)));

    struct stat st {};
    ASSERT_EQ(stat(d.dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, getpwnam("libvirt-qemu")->pw_uid);
    const std::string rec = d.dir + "/guest-rec";
    const std::string manifest = read_file(rec + "/manifest.json");
    EXPECT_NE(manifest.find("\"-sandbox\""), std::string::npos) << "libvirt gave no seccomp sandbox: " << manifest;
    const uint64_t n = recorded_instructions(rec);
    EXPECT_GT(n, 3u * 10 + 3);
    RunResult replay = hypanda_cli({"replay", rec, "--verify"});
    EXPECT_EQ(replay.exit_status, 0) << describe(replay);
    EXPECT_EQ(replay.out.rfind(rec + ": verified: " + std::to_string(n) + " instructions, RAM hash ", 0), 0u)
        << describe(replay);
}

// virsh alone: plugins and recordings through qemu-monitor-command.
TEST(Libvirt, VirshDrivesPluginsAndRecordings) {
    TestDomain d("virsh", "count 20000", {});
    ASSERT_EQ(d.defined.exit_status, 0) << describe(d.defined);
    ASSERT_EQ(virsh({"start", "--paused", d.name}).exit_status, 0);
    EXPECT_EQ(hmp(d.name, "list_plugins"), "idx     name                    addr\n");
    EXPECT_EQ(hmp(d.name, "load_plugin insn_count " + count_loop_range() + ",output=" + d.dir + "/n.txt"),
              "loaded panda_insn_count.so as plugin 0\n");
    EXPECT_EQ(lines_starting_with(hmp(d.name, "list_plugins"), "0       panda_insn_count.so     0x").size(), 1u);
    EXPECT_EQ(hmp(d.name, "begin_record " + d.dir + "/rec"), "recording " + d.dir + "/rec: started\n");
    ASSERT_EQ(virsh({"resume", d.name}).exit_status, 0);
    ASSERT_TRUE(wait_until_shut_off(d.name, kLimit));
    EXPECT_EQ(lines_starting_with(read_file(d.serial), "RESULT "),
              std::vector<std::string>{result_line("count", expected_count(20000))});
    EXPECT_EQ(read_file(d.dir + "/n.txt"), insn_count_line(hp_count_insns(20000)));
    const uint64_t n = recorded_instructions(d.dir + "/rec");
    EXPECT_GT(n, hp_count_insns(20000));
    RunResult replay = hypanda_cli({"replay", d.dir + "/rec", "--verify"});
    EXPECT_EQ(replay.exit_status, 0) << describe(replay);
    EXPECT_EQ(replay.out.rfind(d.dir + "/rec" + ": verified: " + std::to_string(n) + " instructions, RAM hash ", 0), 0u)
        << describe(replay);

    // end_record while the guest runs (a workload of hours), then destroy.
    TestDomain l("virsh-long", "count 1000000000000", {});
    ASSERT_EQ(l.defined.exit_status, 0) << describe(l.defined);
    ASSERT_EQ(virsh({"start", "--paused", l.name}).exit_status, 0);
    EXPECT_EQ(hmp(l.name, "begin_record " + l.dir + "/rec"), "recording " + l.dir + "/rec: started\n");
    EXPECT_EQ(hmp(l.name, "begin_record " + l.dir + "/rec2"), "error: begin_record: already recording " + l.dir +
                                                                  "/rec\n");
    ASSERT_EQ(virsh({"resume", l.name}).exit_status, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(hmp(l.name, "end_record"), "recording ended\n");
    EXPECT_EQ(hmp(l.name, "end_record"), "error: end_record: nothing is being recorded\n");
    ASSERT_EQ(virsh({"destroy", l.name}).exit_status, 0);
    const uint64_t m = recorded_instructions(l.dir + "/rec");
    EXPECT_GT(m, 0u);
    replay = hypanda_cli({"replay", l.dir + "/rec", "--verify"});
    EXPECT_EQ(replay.exit_status, 0) << describe(replay);
    EXPECT_EQ(replay.out.rfind(l.dir + "/rec" + ": verified: " + std::to_string(m) + " instructions, RAM hash ", 0), 0u)
        << describe(replay);
}

// The hypanda tool on a libvirt domain: the same subcommands as for a run.
TEST(Libvirt, HypandaDrivesADomain) {
    TestDomain d("tool", "count 1000000000000", {});
    ASSERT_EQ(d.defined.exit_status, 0) << describe(d.defined);
    ASSERT_EQ(virsh({"start", "--paused", d.name}).exit_status, 0);
    const std::string who = "domain '" + d.name + "'";
    RunResult r = hypanda_cli({"plugins", d.name, "list"});
    EXPECT_EQ(r.out, who + ": no plugins loaded\n") << describe(r);
    r = hypanda_cli({"plugins", d.name, "load", "insn_count:output=" + d.dir + "/n.txt", "-c", kUri});
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_EQ(r.out, who + ": loaded panda_insn_count.so as plugin 0\n");
    r = hypanda_cli({"plugins", d.name, "--json"});
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    json list = json::parse(r.out);
    ASSERT_EQ(list["plugins"].size(), 1u) << r.out;
    EXPECT_EQ(list["plugins"][0]["name"], "panda_insn_count.so");
    EXPECT_EQ(list["plugins"][0]["path"], installed_plugins() + "/panda_insn_count.so");
    r = hypanda_cli({"record", d.name, "start", "rec", "--json"});
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_EQ(json::parse(r.out), (json{{"target", who}, {"recording", d.dir + "/rec"}, {"state", "started"}}));
    r = hypanda_cli({"resume", d.name});
    ASSERT_EQ(r.out, who + ": running\n") << describe(r);
    EXPECT_EQ(virsh({"domstate", d.name}).out, "running\n\n");
    EXPECT_EQ(lines_starting_with(virsh({"list", "--name"}).out, d.name), std::vector<std::string>{d.name});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    r = hypanda_cli({"record", d.name, "stop"});
    EXPECT_EQ(r.out, who + ": recording ended\n") << describe(r);
    r = hypanda_cli({"plugins", d.name, "unload", "insn_count"});
    EXPECT_EQ(r.out, who + ": unloaded plugin 0\n") << describe(r);
    const std::string count = read_file(d.dir + "/n.txt");
    unsigned long long counted = 0;
    EXPECT_EQ(std::sscanf(count.c_str(), "insn_count: %llu instructions", &counted), 1) << count;
    EXPECT_GT(counted, 0u);
    r = hypanda_cli({"switch", d.name, "--to", "tcg"});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: " + who +
                         ": hybrid-switch: hybrid mode is off (start the emulator with -accel kvm -hybrid on)\n");
    r = hypanda_cli({"stop", d.name});
    EXPECT_EQ(r.out, who + ": stopped\n") << describe(r);
    EXPECT_EQ(virsh({"domstate", d.name}).out, "shut off\n\n");
    // Once the guest has ended, one line that says so and where the
    // recording it was making went (it is saved as the emulator ends).
    r = hypanda_cli({"record", d.name, "stop"});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: " + who + " is not running: a recording it was making ended with its emulator and was "
                     "saved then (in " + d.dir + "; 'hypanda info' checks it)\n");

    const uint64_t n = recorded_instructions(d.dir + "/rec");
    r = hypanda_cli({"replay", d.dir + "/rec", "--verify", "--json"});
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    json out = json::parse(r.out);
    EXPECT_EQ(out["verified"], true);
    EXPECT_EQ(out["instructions"], n);

    r = hypanda_cli({"plugins", "hypanda-test-nosuch"});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: domain 'hypanda-test-nosuch': Domain not found: no domain with matching name "
                     "'hypanda-test-nosuch'\n");
    r = hypanda_cli({"record", d.name, "start"});
    EXPECT_EQ(r.exit_status, 2);
    EXPECT_EQ(r.err, "hypanda: record start: give the recording's NAME\n");
}

// A hybrid domain under KVM: switches from virsh's monitor, from hypanda,
// and from the guest's hypercalls, each seen as a QMP event by virsh.
TEST(Libvirt, HybridDomainSwitches) {
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        GTEST_SKIP() << "no usable /dev/kvm: the hybrid domain test needs KVM";
    }
    TestDomain d("hybrid", "switchgpr 3", {"--hybrid", "--hypercall", "switch"});
    ASSERT_EQ(d.defined.exit_status, 0) << describe(d.defined);
    ASSERT_NE(d.defined.out.find("(type kvm,"), std::string::npos) << d.defined.out;
    ASSERT_EQ(virsh({"start", "--paused", d.name}).exit_status, 0);
    Child events({"virsh", "-c", kUri, "qemu-monitor-event", d.name, "--event", "HYPANDA_ENGINE_SWITCH", "--loop"});
    EXPECT_EQ(lines_starting_with(hmp(d.name, "info hybrid"), "engine "), std::vector<std::string>{"engine kvm"});
    // virsh says nothing once it listens: switch to TCG and back from the
    // monitor until it shows an event. `probes` round trips, 2 switches each.
    int probes = 0;
    while (events.out_so_far().find("HYPANDA_ENGINE_SWITCH") == std::string::npos && probes < 100) {
        EXPECT_EQ(hmp(d.name, "hybrid_switch tcg"), "engine tcg\n");
        EXPECT_EQ(hmp(d.name, "hybrid_switch kvm"), "engine kvm\n");
        probes++;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_LT(probes, 100) << "virsh qemu-monitor-event saw no switch";
    EXPECT_EQ(hmp(d.name, "hybrid_switch tcg"), "engine tcg\n");
    RunResult r = hypanda_cli({"switch", d.name, "--to", "kvm", "--json"});
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    json sw = json::parse(r.out);
    EXPECT_EQ(sw["engine"], "kvm");
    EXPECT_EQ(sw["hybrid"]["kvm"]["switches-to"], probes + 1);
    ASSERT_EQ(virsh({"resume", d.name}).exit_status, 0);
    ASSERT_TRUE(wait_until_shut_off(d.name, kLimit));
    EXPECT_EQ(lines_starting_with(read_file(d.serial), "SWITCHES "),
              std::vector<std::string>{"SWITCHES 3 unavailable 0 forbidden 0 no-device 0"});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    events.signal(SIGTERM);
    RunResult ev = events.wait(kLimit);
    std::vector<std::string> seen;
    for (const std::string& line : lines_starting_with(ev.out, "event HYPANDA_ENGINE_SWITCH at ")) {
        const std::string prefix = "for domain '" + d.name + "': ";
        const size_t at = line.find(prefix);
        ASSERT_NE(at, std::string::npos) << line;
        json data = json::parse(line.substr(at + prefix.size()));
        seen.push_back(data["trigger"].get<std::string>() + " " + data["engine"].get<std::string>() + " " +
                       std::to_string(data["switches"].get<int>()));
    }
    // The last probes (from when virsh listened), then exactly these five;
    // "switches" counts every switch of the run.
    const int n = 2 * probes;
    const int caught = static_cast<int>(seen.size()) - 5;
    ASSERT_GE(caught, 1) << describe(ev);
    ASSERT_LE(caught, n) << describe(ev);
    std::vector<std::string> expected;
    for (int i = n - caught + 1; i <= n; i++) {
        expected.push_back(std::string("monitor ") + (i % 2 == 1 ? "tcg " : "kvm ") + std::to_string(i));
    }
    int i = n + 1;
    for (const char* e : {"monitor tcg ", "monitor kvm ", "hypercall tcg ", "hypercall kvm ", "hypercall tcg "}) {
        expected.push_back(e + std::to_string(i++));
    }
    EXPECT_EQ(seen, expected) << describe(ev);
}

// Metadata libvirt cannot judge: our tool refuses it at define time, and
// the hook stops the start with our line in libvirt's error.
// A Linux domain with the devices libvirt gives one (a virtio disk, a virtio
// NIC on <interface type='user'>, a virtio RNG, the balloon, a USB tablet,
// the serial console), whose analysis metadata records it from power-on:
// it fetches a file over HTTP (busybox httpd on the host's loopback) and
// writes it to its disk (tests/linux/make-linux-guest, hplinux=netdisk).
// The guest's SHA-256 lines must be sha256sum's, and the recording must
// replay offline and verify.
TEST(Libvirt, LinuxDomainWithLibvirtsDevicesRecordsAndReplays) {
    const std::string linux_dir = build_root() + "/tests/linux";
    ASSERT_TRUE(std::ifstream(linux_dir + "/vmlinuz").good()) << "build the Linux guest (ninja tests/linux/vmlinuz)";
    const std::string dir = kWork + "/linux";
    const std::string name = "hypanda-test-linux";
    virsh({"destroy", name});
    virsh({"undefine", name});
    (void)run({"rm", "-rf", dir, kWork + "/linux-files"}, kLimit);
    ASSERT_EQ(run({"mkdir", "-p", kWork + "/linux-files/www"}, kLimit).exit_status, 0);
    const std::string files = kWork + "/linux-files";
    for (const char* f : {"vmlinuz", "initramfs.cpio.gz"}) {
        ASSERT_EQ(run({"install", "-m", "644", linux_dir + "/" + f, files + "/" + f}, kLimit).exit_status, 0);
    }
    std::string body(200000, '\0');
    uint32_t x = 0x6c76u;
    for (char& c : body) {
        x = x * 1664525u + 1013904223u;
        c = static_cast<char>(x >> 24);
    }
    std::ofstream(files + "/www/file", std::ios::binary) << body;
    RunResult sum = run({"sha256sum", files + "/www/file"}, kLimit);
    ASSERT_EQ(sum.exit_status, 0);
    const std::string want = sum.out.substr(0, sum.out.find(' '));
    ASSERT_EQ(run({"truncate", "-s", "4M", files + "/disk.img"}, kLimit).exit_status, 0);
    const int port = 20000 + static_cast<int>(getpid() % 20000);
    Child httpd({"busybox", "httpd", "-f", "-p", "127.0.0.1:" + std::to_string(port), "-h", files + "/www"});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    const std::string serial = files + "/serial.log";
    const std::string xml =
        "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
        "  <name>" + name + "</name>\n  <memory unit='MiB'>512</memory>\n  <vcpu>1</vcpu>\n"
        "  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>" + files + "/vmlinuz</kernel>"
        "<initrd>" + files + "/initramfs.cpio.gz</initrd>"
        "<cmdline>console=ttyS0 panic=-1 hplinux=netdisk hplinux.url=http://10.0.2.2:" + std::to_string(port) +
        "/file hplinux.disk=/dev/vda</cmdline></os>\n"
        "  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>\n"
        "  <devices>\n    <emulator>" + emulator_bin() + "</emulator>\n"
        "    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='" + files +
        "/disk.img'/><target dev='vda' bus='virtio'/></disk>\n"
        "    <interface type='user'><model type='virtio'/></interface>\n"
        "    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>\n"
        "    <input type='tablet' bus='usb'/>\n"
        "    <serial type='file'><source path='" + serial + "'/><target port='0'/></serial>\n"
        "  </devices>\n"
        "  <metadata><hypanda:analysis xmlns:hypanda='https://hypanda.dev/xmlns/libvirt/analysis/1'>"
        "<hypanda:recordings dir='" + dir + "'/>"
        "<hypanda:emulator-arg value='-device'/><hypanda:emulator-arg value='isa-debug-exit,iobase=0xf4,iosize=4'/>"
        "<hypanda:emulator-arg value='-record-from'/><hypanda:emulator-arg value=':" + dir + "/boot'/>"
        "</hypanda:analysis></metadata>\n</domain>\n";
    std::ofstream(files + "/domain.xml") << xml;
    RunResult r = hypanda_cli({"domain", "define", files + "/domain.xml"});
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    r = virsh({"start", name});
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    const bool stopped = wait_until_shut_off(name, std::chrono::seconds(300));
    httpd.signal(SIGTERM);
    (void)httpd.wait(kLimit);
    ASSERT_TRUE(stopped) << read_file(serial);
    const std::string out = read_file(serial);
    EXPECT_EQ(lines_starting_with(out, "HPLINUX fetched "),
              std::vector<std::string>{"HPLINUX fetched " + std::to_string(body.size()) + " " + want})
        << out;
    EXPECT_EQ(lines_starting_with(out, "HPLINUX disk "),
              std::vector<std::string>{"HPLINUX disk " + std::to_string(body.size()) + " " + want});
    const std::string rec = dir + "/boot";
    const std::string manifest = read_file(rec + "/manifest.json");
    for (const char* device : {"virtio-net-pci", "virtio-blk-pci", "virtio-rng-pci", "virtio-balloon-pci", "usb-tablet"}) {
        EXPECT_NE(manifest.find(device), std::string::npos) << "libvirt gave no " << device << ": " << manifest;
    }
    // Offline: no disk image.
    ASSERT_EQ(unlink((files + "/disk.img").c_str()), 0);
    const uint64_t n = recorded_instructions(rec);
    RunResult replay = hypanda_cli({"replay", rec, "--verify"});
    EXPECT_EQ(replay.exit_status, 0) << describe(replay);
    EXPECT_EQ(replay.out.rfind(rec + ": verified: " + std::to_string(n) + " instructions, RAM hash ", 0), 0u)
        << describe(replay);
    virsh({"undefine", name});
}

TEST(Libvirt, BadMetadataIsRefusedWithOurError) {
    const std::string name = "hypanda-test-bad";
    const std::string xml_file = kWork + "/bad.xml";
    virsh({"undefine", name});
    RunResult r = hypanda_cli({"domain", "create", name, "--kernel", guest(), "--plugin", "nosuch", "--print",
                           "--emulator", emulator_bin()});
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    std::ofstream(xml_file) << r.out;
    ASSERT_EQ(virsh({"define", xml_file}).exit_status, 0);
    r = virsh({"start", name});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_NE(r.err.find("unexpected exit status 1: hypanda: domain '" + name + "': plugin 'nosuch': not found; "
                         "looked for " + kPrefix + "/bin/panda_plugins/panda_nosuch.so, " + installed_plugins() +
                         "/panda_nosuch.so"),
              std::string::npos)
        << describe(r);
    // Through hypanda, the hook's line alone, without libvirt's wrapping.
    r = hypanda_cli({"domain", "start", name, "-c", kUri});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: domain '" + name + "': plugin 'nosuch': not found; looked for " + kPrefix +
                         "/bin/panda_plugins/panda_nosuch.so, " + installed_plugins() + "/panda_nosuch.so\n");

    // The metadata edited by hand, <qemu:commandline> not regenerated.
    std::string edited = virsh({"dumpxml", name}).out;
    const std::string from = "<hypanda:plugin name=\"nosuch\"/>";
    ASSERT_NE(edited.find(from), std::string::npos) << edited;
    edited.replace(edited.find(from), from.size(), "<hypanda:plugin name=\"insn_count\"/>");
    std::ofstream(xml_file) << edited;
    ASSERT_EQ(virsh({"define", xml_file}).exit_status, 0);
    r = virsh({"start", name});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_NE(r.err.find("hypanda: domain '" + name + "': <qemu:commandline> does not match the <hypanda:analysis> "
                         "metadata (edited by hand?); run 'hypanda domain define' on the XML to regenerate it "
                         "(wanted: -panda insn_count)"),
              std::string::npos)
        << describe(r);
    // ... which `hypanda domain define` does.
    r = hypanda_cli({"domain", "define", xml_file});
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_EQ(r.err, "hypanda: note: " + xml_file + ": <qemu:commandline> (2 arguments) replaced by the metadata's 2; "
                     "other emulator options belong in <hypanda:emulator-arg>\n");
    r = virsh({"start", "--paused", name});
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_EQ(lines_starting_with(hmp(name, "list_plugins"), "0       panda_insn_count.so     0x").size(), 1u);
    virsh({"destroy", name});

    // Malformed: refused by the tool, naming line and element; libvirt
    // takes it (metadata is not its business) but the hook stops the start.
    const size_t at = edited.find("<hypanda:plugin name=\"insn_count\"/>");
    edited.replace(at, std::string("<hypanda:plugin name=\"insn_count\"/>").size(), "<hypanda:plugin nam=\"x\"/>");
    std::ofstream(xml_file) << edited;
    int line = 1;
    for (size_t i = 0; i < at; i++) {
        line += edited[i] == '\n';
    }
    r = hypanda_cli({"domain", "define", xml_file});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: " + xml_file + ":" + std::to_string(line) +
                         ": <hypanda:plugin>: unknown attribute 'nam'\n");
    ASSERT_EQ(virsh({"define", xml_file}).exit_status, 0);
    r = virsh({"start", name});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_NE(r.err.find(": <hypanda:plugin>: unknown attribute 'nam'"), std::string::npos) << describe(r);
    virsh({"undefine", name});

    // A domain without our metadata: the hook lets it be.
    r = hypanda_cli({"domain", "create", name, "--kernel", guest(), "--append", "count 10", "--print", "--emulator",
                     emulator_bin(), kDebugExit[0], kDebugExit[1]});
    std::string plain = r.out;
    const size_t meta_from = plain.find("  <metadata>");
    const size_t meta_to = plain.find("</metadata>\n");
    ASSERT_TRUE(meta_from != std::string::npos && meta_to != std::string::npos) << plain;
    plain.erase(meta_from, meta_to + std::string("</metadata>\n").size() - meta_from);
    ASSERT_EQ(plain.find("hypanda:"), std::string::npos) << plain;
    std::ofstream(xml_file) << plain;
    ASSERT_EQ(virsh({"define", xml_file}).exit_status, 0);
    r = virsh({"start", name});
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_TRUE(wait_until_shut_off(name, kLimit));
    virsh({"undefine", name});
    (void)run({"rm", "-f", xml_file}, kLimit);
}

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new LibvirtEnvironment);
    return RUN_ALL_TESTS();
}
