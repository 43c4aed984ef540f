// Local attacks on what root runs, each performed here as it was found: an
// unprivileged user (nobody, through setpriv) prepares a folder, a link, a
// plugin or a recording where root will use it, then root runs the tool.
// Each passes because the tool refuses with one line and nothing is
// written, chowned, connected to or loaded (docs/cli.md, docs/libvirt.md,
// docs/recording.md say what is refused and why). The guest as attacker
// (ending the host's recording) is in rr_test.cc.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "run.h"

using namespace hypanda::test;
using nlohmann::json;

namespace {

constexpr auto kLimit = std::chrono::seconds(120);
constexpr uid_t kNobody = 65534;

std::string tool() { return build_root() + "/bin/hypanda"; }
std::string hook() { return build_root() + "/libvirt-driver/hypanda-libvirt-hook"; }
std::string guest_elf() { return build_root() + "/tests/guest/hptest.elf"; }

RunResult hypanda_cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {tool()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, kLimit);
}

// A shell command run as nobody (uid and group 65534, no other groups);
// with `group` another primary group.
RunResult as_nobody(const std::string& script, const std::string& group = "65534") {
    return run({"setpriv", "--reuid=65534", "--regid=" + group, "--clear-groups", "--", "sh", "-ec", script}, kLimit);
}

mode_t mode_of(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

uid_t owner_of(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
}

bool exists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
}

// The scene of each attack: a folder everyone may write, like /tmp (root's,
// sticky), beside one only root may read, holding files with known text.
class Scene : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(geteuid(), 0u) << "these tests perform attacks on root: make check runs as root";
        ASSERT_EQ(chmod(tmp_.path().c_str(), 0755), 0);
        ASSERT_EQ(mkdir(pub().c_str(), 01777), 0);
        ASSERT_EQ(chmod(pub().c_str(), 01777), 0);
        ASSERT_EQ(mkdir(secret().c_str(), 0700), 0);
        for (const char* f : {"a", "b", "c"}) {
            std::ofstream(secret() + "/" + f) << "root's " << f << "\n";
        }
    }

    std::string pub() const { return tmp_.file("pub"); }
    std::string secret() const { return tmp_.file("secret"); }
    std::string file(const std::string& name) const { return tmp_.file(name); }

    // The secret folder exactly as SetUp made it.
    void expect_secret_untouched() const {
        for (const char* f : {"a", "b", "c"}) {
            EXPECT_EQ(read_file(secret() + "/" + f), std::string("root's ") + f + "\n");
            EXPECT_EQ(owner_of(secret() + "/" + f), 0u);
        }
        EXPECT_EQ(owner_of(secret()), 0u);
        EXPECT_EQ(mode_of(secret()), 0700u);
        RunResult ls = run({"ls", "-A", secret()}, kLimit);
        EXPECT_EQ(ls.out, "a\nb\nc\n");
    }

    std::vector<std::string> guest_run(const std::string& dir, const std::string& append) const {
        return {"run", dir, "--kernel", guest_elf(), "--append", append, "--emulator-arg=-device",
                "--emulator-arg=isa-debug-exit,iobase=0xf4,iosize=4"};
    }

    // Runs the libvirt hook as libvirt does at `prepare begin`, on the XML
    // `hypanda domain create` prints for these options.
    RunResult hook_on(const std::vector<std::string>& create_options) const {
        std::vector<std::string> args = {"domain", "create", "hk", "--kernel", guest_elf(), "--print", "--emulator",
                                         build_root() + "/bin/hypanda-system-x86_64"};
        args.insert(args.end(), create_options.begin(), create_options.end());
        RunResult xml = hypanda_cli(args);
        EXPECT_EQ(xml.exit_status, 0) << describe(xml);
        std::ofstream(tmp_.file("domain.xml")) << xml.out;
        return run({"sh", "-c", "exec \"$0\" hk prepare begin - < \"$1\"", hook(), tmp_.file("domain.xml")}, kLimit);
    }

private:
    TempDir tmp_;
};

using HypandaRunAttack = Scene;
using LibvirtHookAttack = Scene;
using ReplayAttack = Scene;

}  // namespace

// 1. nobody makes the run folder root will name, its files links to
// root-only files: refused, as are a link for the folder and a folder
// others may write; nothing in the secret folder changes.
TEST_F(HypandaRunAttack, RefusesAFolderAnotherUserMade) {
    const std::string x = pub() + "/x";
    RunResult prep = as_nobody("mkdir " + x + "; ln -s " + secret() + "/a " + x + "/serial.log; ln -s " + secret() +
                               "/b " + x + "/command-line; ln -s " + secret() + "/c " + x + "/emulator.log");
    ASSERT_EQ(prep.exit_status, 0) << describe(prep);
    RunResult r = hypanda_cli(guest_run(x, "count 10"));
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: run folder " + x +
                         " belongs to nobody (uid 65534), not to you: refused (its owner could send the run's files "
                         "anywhere); give a new name and hypanda makes it\n");
    r = hypanda_cli([&] {
        auto a = guest_run(x, "count 10");
        a.push_back("--detach");
        return a;
    }());
    EXPECT_EQ(r.exit_status, 1);

    const std::string y = pub() + "/y";
    prep = as_nobody("ln -s " + secret() + " " + y);
    ASSERT_EQ(prep.exit_status, 0) << describe(prep);
    r = hypanda_cli(guest_run(y, "count 10"));
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: run folder " + y +
                         " is a symbolic link: refused (give the folder itself, or a new name)\n");

    const std::string w = file("w");
    ASSERT_EQ(mkdir(w.c_str(), 0777), 0);
    ASSERT_EQ(chmod(w.c_str(), 0777), 0);
    r = hypanda_cli(guest_run(w, "count 10"));
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: run folder " + w + " is writable by others (mode 0777): refused; 'chmod go-w " + w +
                         "' or give a new name\n");
    EXPECT_FALSE(exists(w + "/serial.log"));
    expect_secret_untouched();

    // A new name in the same public folder: made for root alone, and the run works.
    const std::string z = pub() + "/z";
    r = hypanda_cli(guest_run(z, "count 10"));
    EXPECT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(mode_of(z), 0700u);
    EXPECT_EQ(owner_of(z), 0u);
    EXPECT_NE(read_file(z + "/serial.log").find("RESULT count"), std::string::npos);
}

// 5. Under umask 002 everything a run makes is still the owner's alone: a
// member of the owner's group cannot reach the QMP socket (which loads
// plugins), the serial log, or a recording (the guest's whole RAM).
TEST_F(HypandaRunAttack, FilesAreTheOwnersAloneWhateverTheUmask) {
    const mode_t saved = umask(002);
    const std::string dir = file("r");
    std::vector<std::string> args = guest_run(dir, "count 1000000000000");
    args.insert(args.end(), {"--detach", "--paused"});
    RunResult r = hypanda_cli(args);
    umask(saved);
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_EQ(mode_of(dir), 0700u);
    for (const char* f : {"command-line", "serial.log", "emulator.log", "pid"}) {
        EXPECT_EQ(mode_of(dir + "/" + f), 0600u) << f;
    }
    EXPECT_EQ(mode_of(dir + "/qmp.sock") & 077, 0u);

    // nobody in root's group (the socket's) tries to load a plugin.
    RunResult attack = as_nobody(tool() + " plugins " + dir + " load insn_count", "0");
    EXPECT_EQ(attack.exit_status, 1) << describe(attack);
    EXPECT_EQ(attack.err, "hypanda: run folder " + dir + ": Permission denied (a run folder is its owner's alone)\n");
    r = hypanda_cli({"plugins", dir, "--json"});
    EXPECT_EQ(json::parse(r.out).at("plugins"), json::array()) << describe(r);

    const mode_t again = umask(002);
    r = hypanda_cli({"record", dir, "start", "rec"});
    umask(again);
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    r = hypanda_cli({"resume", dir});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    r = hypanda_cli({"record", dir, "stop"});
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    r = hypanda_cli({"stop", dir});
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_EQ(mode_of(dir + "/rec"), 0700u);
    for (const char* f : {"manifest.json", "snapshot.bin", "nondet.log"}) {
        EXPECT_EQ(mode_of(dir + "/rec/" + f), 0600u) << f;
    }
}

// 2. nobody owns a folder on the recordings path and links a name in it to
// a root-only folder: root's hook refuses the path and makes nothing there.
TEST_F(LibvirtHookAttack, RefusesARecordingsPathThroughAnotherUsersFolder) {
    RunResult prep = as_nobody("mkdir " + pub() + "/u; ln -s " + secret() + " " + pub() + "/u/b; ln -s " + secret() +
                               " " + pub() + "/lnk");
    ASSERT_EQ(prep.exit_status, 0) << describe(prep);
    RunResult r = hook_on({"--recordings", pub() + "/u/b/sub"});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: domain 'hk': recordings folder " + pub() + "/u/b/sub: " + pub() +
                         "/u belongs to nobody: refused (another user could send what root makes there anywhere)\n");
    r = hook_on({"--recordings", pub() + "/lnk/sub"});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: domain 'hk': recordings folder " + pub() + "/lnk/sub: " + pub() +
                         "/lnk is a symbolic link: refused (give the real path)\n");
    expect_secret_untouched();

    // Through root's sticky folder alone: made, parents root's, the last
    // the emulator's user's.
    const passwd* qemu = getpwnam("libvirt-qemu");
    ASSERT_NE(qemu, nullptr) << "libvirt-qemu is missing: run tools/install-deps";
    r = hook_on({"--recordings", pub() + "/ok/rec"});
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_EQ(owner_of(pub() + "/ok"), 0u);
    EXPECT_EQ(mode_of(pub() + "/ok"), 0755u);
    EXPECT_EQ(owner_of(pub() + "/ok/rec"), qemu->pw_uid);
    EXPECT_EQ(mode_of(pub() + "/ok/rec"), 0750u);
}

// 6. A plugin nobody can rewrite (its folder is nobody's; or the file is
// 0666 in root's folder): refused before the emulator could load it.
TEST_F(LibvirtHookAttack, RefusesAPluginAnyoneButRootCanChange) {
    const std::string plugin = build_root() + "/plugins/panda_insn_count.so";
    ASSERT_TRUE(exists(plugin)) << plugin;
    RunResult prep = as_nobody("mkdir " + pub() + "/p; cat > " + pub() + "/p/panda_evil.so < " + plugin +
                               "; chmod 0666 " + pub() + "/p/panda_evil.so");
    ASSERT_EQ(prep.exit_status, 0) << describe(prep);
    RunResult r = hook_on({"--plugin", pub() + "/p/panda_evil.so"});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: domain 'hk': plugin " + pub() + "/p/panda_evil.so: " + pub() +
                         "/p belongs to nobody: refused (a plugin runs as the emulator's user; only root may be able "
                         "to change it)\n");

    ASSERT_EQ(mkdir(file("plug").c_str(), 0755), 0);
    ASSERT_EQ(run({"install", "-m", "0666", plugin, file("plug/panda_rw.so")}, kLimit).exit_status, 0);
    ASSERT_EQ(chmod(file("plug/panda_rw.so").c_str(), 0666), 0);
    r = hook_on({"--plugin", file("plug/panda_rw.so")});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: domain 'hk': plugin " + file("plug/panda_rw.so") + ": " + file("plug/panda_rw.so") +
                         " is writable by others (mode 0666): refused (a plugin runs as the emulator's user; only "
                         "root may be able to change it)\n");
    // Made root's alone, the same file passes.
    ASSERT_EQ(chmod(file("plug/panda_rw.so").c_str(), 0644), 0);
    r = hook_on({"--plugin", file("plug/panda_rw.so")});
    EXPECT_EQ(r.exit_status, 0) << describe(r);
}

// 3. nobody edits a recording's command line to reach the host (a TCP
// connection to a listener here; a root-only file read into guest RAM):
// root's replay refuses it naming the option, and nothing connects. The
// same recording unedited replays, so the refusal is the edit's.
TEST_F(ReplayAttack, RefusesACommandLineThatReachesTheHost) {
    const std::string dir = file("run");
    std::vector<std::string> args = guest_run(dir, "count 200");
    args.insert(args.end(), {"--emulator-arg=-record-from", "--emulator-arg=:rec"});
    RunResult r = hypanda_cli(args);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    ASSERT_EQ(run({"cp", "-r", dir + "/rec", pub() + "/src"}, kLimit).exit_status, 0);
    ASSERT_EQ(run({"chmod", "-R", "a+rX", pub() + "/src"}, kLimit).exit_status, 0);
    r = hypanda_cli({"replay", pub() + "/src", "--verify"});
    ASSERT_EQ(r.exit_status, 0) << describe(r);

    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(listener, 4), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const std::string port = std::to_string(ntohs(addr.sin_port));

    const json manifest = json::parse(read_file(pub() + "/src/manifest.json"));
    const std::vector<std::pair<std::vector<std::string>, std::string>> edits = {
        {{"-object", "input-barrier,id=b,name=x,server=127.0.0.1,port=" + port},
         "-object input-barrier,id=b,name=x,server=127.0.0.1,port=" + port +
             "': object type 'input-barrier' is not one a replay creates"},
        {{"-device", "loader,file=" + secret() + "/a,addr=0x100000"},
         "-device loader,file=" + secret() + "/a,addr=0x100000': device model 'loader' is not one a replay creates"},
        {{"-object", "input-linux,id=k,evdev=/dev/input/event0"},
         "-object input-linux,id=k,evdev=/dev/input/event0': object type 'input-linux' is not one a replay creates"},
        {{"-device", "vfio-pci,host=0000:00:01.0"},
         "-device vfio-pci,host=0000:00:01.0': device model 'vfio-pci' is not one a replay creates"},
    };
    int n = 0;
    for (const auto& [extra, why] : edits) {
        json edited = manifest;
        for (const std::string& word : extra) {
            edited["command_line"].push_back(word);
        }
        const std::string evil = pub() + "/evil" + std::to_string(n++);
        std::ofstream(file("edited.json")) << edited.dump(2);
        ASSERT_EQ(chmod(file("edited.json").c_str(), 0644), 0);
        RunResult prep = as_nobody("cp -r " + pub() + "/src " + evil + "; cat " + file("edited.json") + " > " + evil +
                                   "/manifest.json");
        ASSERT_EQ(prep.exit_status, 0) << describe(prep);
        r = hypanda_cli({"replay", evil});
        EXPECT_EQ(r.exit_status, 1) << describe(r);
        EXPECT_EQ(r.err, "hypanda-system-x86_64: -replay " + evil + ": the recording's command line has '" + why +
                             "; a replay runs only the machine (docs/recording.md lists what it takes)\n");
    }
    EXPECT_LT(accept(listener, nullptr, nullptr), 0);  // nobody connected
    EXPECT_EQ(errno, EAGAIN);
    close(listener);
    expect_secret_untouched();
}
