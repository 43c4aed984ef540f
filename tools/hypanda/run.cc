// hypanda run: a local guest without libvirt. The run folder holds what the
// run makes and is the handle other subcommands take:
//   command-line   the emulator's arguments, one a line
//   serial.log     the guest's first serial port
//   emulator.log   the emulator's own output (with --detach)
//   qmp.sock       its QMP socket, while it runs
//   pid            its process id
// Relative recording names resolve here: the emulator runs in this folder.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "common.h"
#include "qmp.h"

namespace hypanda::cli {

namespace {

using nlohmann::json;


std::string last_line(const std::string& file) {
    std::ifstream in(file);
    std::string line, last;
    while (std::getline(in, line)) {
        if (!line.empty()) {
            last = line;
        }
    }
    return last;
}

// Waits for the detached emulator's QMP socket; fails if it ends first.
bool wait_for_qmp(pid_t pid, const std::string& dir, std::string* err) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            const std::string why = last_line(dir + "/emulator.log");
            *err = "the emulator ended (status " +
                   std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) +
                   ") before its QMP socket opened" + (why.empty() ? "" : ": " + why);
            return false;
        }
        std::string ignored;
        if (Qmp::connect(dir + "/qmp.sock", std::chrono::seconds(5), &ignored)) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    *err = "the emulator's QMP socket did not open within 30 s (see " + dir + "/emulator.log)";
    return false;
}

}  // namespace

int cmd_run(const Global& g, const RunOptions& o) {
    const std::string dir = absolute_path(o.dir);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return fail("run folder " + dir + ": " + std::strerror(errno));
    }
    std::string err;
    if (Qmp::connect(dir + "/qmp.sock", std::chrono::seconds(2), &err)) {
        return fail("run folder " + dir + " is in use by a running guest ('hypanda stop " + o.dir + "' ends it)");
    }
    unlink((dir + "/qmp.sock").c_str());

    libvirt::Analysis analysis;
    if (!analysis_of(o.guest, dir, &analysis, &err)) {
        return fail(err);
    }
    const std::string accel = !o.accel.empty() ? o.accel : o.guest.hybrid ? "kvm" : "tcg";
    if (o.guest.hybrid && accel != "kvm") {
        return fail("--hybrid runs under KVM first; it takes no --accel " + accel);
    }
    std::vector<std::string> args = {emulator_path(g.argv0), "-name", "hypanda-run", "-display", "none",
                                     "-monitor", "none", "-serial", "file:" + dir + "/serial.log",
                                     "-qmp", "unix:" + dir + "/qmp.sock,server=on,wait=off",
                                     "-m", std::to_string(o.guest.memory_mib), "-accel", accel};
    if (!o.guest.kernel.empty()) {
        args.insert(args.end(), {"-kernel", absolute_path(o.guest.kernel)});
        if (!o.guest.append.empty()) {
            args.insert(args.end(), {"-append", o.guest.append});
        }
    }
    for (const std::string& disk : o.guest.disks) {
        args.insert(args.end(), {"-drive", "file=" + absolute_path(disk) + ",format=raw,if=ide"});
    }
    if (o.paused) {
        args.push_back("-S");
    }
    const std::vector<std::string> more = libvirt::emulator_options(analysis);
    args.insert(args.end(), more.begin(), more.end());
    {
        std::ofstream cl(dir + "/command-line");
        for (const std::string& a : args) {
            cl << a << "\n";
        }
    }

    const pid_t pid = fork();
    if (pid < 0) {
        return fail(std::string("cannot start the emulator: ") + std::strerror(errno));
    }
    if (pid == 0) {
        if (chdir(dir.c_str()) != 0) {
            _exit(127);
        }
        if (o.detach) {
            setsid();
            const int log = open("emulator.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
            const int null = open("/dev/null", O_RDONLY);
            if (log < 0 || null < 0) {
                _exit(127);
            }
            dup2(null, STDIN_FILENO);
            dup2(log, STDOUT_FILENO);
            dup2(log, STDERR_FILENO);
        }
        std::vector<char*> argv;
        for (const std::string& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        std::fprintf(stderr, "hypanda: cannot run %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    std::ofstream(dir + "/pid") << pid << "\n";

    if (o.detach) {
        if (!wait_for_qmp(pid, dir, &err)) {
            return fail("run folder " + dir + ": " + err);
        }
        if (g.json) {
            std::cout << json{{"run", dir},
                              {"pid", pid},
                              {"qmp", dir + "/qmp.sock"},
                              {"serial", dir + "/serial.log"},
                              {"emulator_log", dir + "/emulator.log"}}
                             .dump(2)
                      << "\n";
        } else {
            std::printf("run folder %s: emulator pid %d, serial %s/serial.log, QMP %s/qmp.sock\n", dir.c_str(),
                        static_cast<int>(pid), dir.c_str(), dir.c_str());
        }
        return kExitOk;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    unlink((dir + "/qmp.sock").c_str());  // no guest answers there any more
    if (g.json) {
        std::cout << json{{"run", dir}, {"exit_status", code}, {"serial", dir + "/serial.log"}}.dump(2) << "\n";
    }
    // Like env(1) and timeout(1): the emulator's own status.
    return code;
}

}  // namespace hypanda::cli
