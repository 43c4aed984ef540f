// hypanda run: a local guest without libvirt. The run folder holds what the
// run makes and is the handle other subcommands take:
//   command-line   the emulator's arguments, one a line
//   serial.log     the guest's first serial port
//   emulator.log   the emulator's own output (with --detach)
//   qmp.sock       its QMP socket, while it runs
//   pid            its process id
// Relative recording names resolve here: the emulator runs in this folder.
//
// A run folder may be named where others can write (/tmp), so it is made
// here (0700), or it must be the caller's own and writable by nobody else;
// it is never a link. Every file in it is made new (0600) relative to the
// folder's descriptor, and the emulator runs with umask 077 from that
// descriptor, so what it makes there (qmp.sock, recordings) is the
// owner's alone (docs/cli.md).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <pwd.h>
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
#include "files.h"
#include "qmp.h"

namespace hypanda::cli {

namespace {

using nlohmann::json;
using hypanda::rr::ScopedFd;

// The files a run makes in its folder; any already there are replaced.
constexpr const char* kRunFiles[] = {"command-line", "serial.log", "emulator.log", "pid", "qmp.sock"};

std::string user_name(uid_t uid) {
    const passwd* pw = getpwuid(uid);
    return pw != nullptr ? pw->pw_name + std::string(" (uid ") + std::to_string(uid) + ")"
                         : "uid " + std::to_string(uid);
}

// Makes the run folder or opens the caller's own; refuses, saying why, a
// link, someone else's folder, or one others can write.
ScopedFd open_run_folder(const std::string& dir, std::string* err) {
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        *err = "run folder " + dir + ": " + std::strerror(errno);
        return ScopedFd();
    }
    ScopedFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.ok()) {
        const int e = errno;
        struct stat link;
        const bool is_link = e == ELOOP || (lstat(dir.c_str(), &link) == 0 && S_ISLNK(link.st_mode));
        *err = "run folder " + dir +
               (is_link ? " is a symbolic link: refused (give the folder itself, or a new name)"
                        : ": " + std::string(std::strerror(e)));
        return ScopedFd();
    }
    struct stat st;
    if (fstat(fd.get(), &st) != 0) {
        *err = "run folder " + dir + ": " + std::strerror(errno);
        return ScopedFd();
    }
    if (st.st_uid != geteuid()) {
        *err = "run folder " + dir + " belongs to " + user_name(st.st_uid) +
               ", not to you: refused (its owner could send the run's files anywhere); give a new name and hypanda "
               "makes it";
        return ScopedFd();
    }
    if ((st.st_mode & 022) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        *err = "run folder " + dir + " is writable by others (mode " + mode + "): refused; 'chmod go-w " + dir +
               "' or give a new name";
        return ScopedFd();
    }
    return fd;
}

// Removes the run files a previous run left (never following a link).
bool clear_run_files(int dir_fd, const std::string& dir, std::string* err) {
    for (const char* name : kRunFiles) {
        if (unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT) {
            *err = "run folder " + dir + ": cannot replace " + name + ": " + std::strerror(errno);
            return false;
        }
    }
    return true;
}

bool write_all(int fd, const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        done += static_cast<size_t>(n);
    }
    return true;
}

// Creates `name` in the run folder (new, 0600, no link) holding `text`.
bool write_run_file(int dir_fd, const std::string& dir, const char* name, const std::string& text,
                    std::string* err) {
    ScopedFd fd = hypanda::rr::create_file_at(dir_fd, name, "run folder " + dir + ": " + name, err);
    if (!fd.ok()) {
        return false;
    }
    if (!write_all(fd.get(), text)) {
        *err = "run folder " + dir + ": cannot write " + name + ": " + std::strerror(errno);
        return false;
    }
    return true;
}


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
    std::string err;
    const ScopedFd dir_fd = open_run_folder(dir, &err);
    if (!dir_fd.ok()) {
        return fail(err);
    }
    if (Qmp::connect(dir + "/qmp.sock", std::chrono::seconds(2), &err)) {
        return fail("run folder " + dir + " is in use by a running guest ('hypanda stop " + o.dir + "' ends it)");
    }
    if (!clear_run_files(dir_fd.get(), dir, &err)) {
        return fail(err);
    }

    libvirt::Analysis analysis;
    if (!analysis_of(o.guest, dir, &analysis, &err)) {
        return fail(err);
    }
    const std::string accel = !o.accel.empty() ? o.accel : o.guest.hybrid ? "kvm" : "tcg";
    if (o.guest.hybrid && accel != "kvm") {
        return fail("--hybrid runs under KVM first; it takes no --accel " + accel);
    }
    // Relative: the emulator runs in the folder, from its descriptor.
    std::vector<std::string> args = {emulator_path(g.argv0), "-name", "hypanda-run", "-display", "none",
                                     "-monitor", "none", "-serial", "file:serial.log",
                                     "-qmp", "unix:qmp.sock,server=on,wait=off",
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
    std::string lines;
    for (const std::string& a : args) {
        lines += a + "\n";
    }
    // serial.log is made here, so the emulator opens (and truncates) ours.
    if (!write_run_file(dir_fd.get(), dir, "command-line", lines, &err) ||
        !write_run_file(dir_fd.get(), dir, "serial.log", "", &err)) {
        return fail(err);
    }
    ScopedFd log;
    if (o.detach) {
        log = hypanda::rr::create_file_at(dir_fd.get(), "emulator.log", "run folder " + dir + ": emulator.log", &err);
        if (!log.ok()) {
            return fail(err);
        }
    }

    const pid_t pid = fork();
    if (pid < 0) {
        return fail(std::string("cannot start the emulator: ") + std::strerror(errno));
    }
    if (pid == 0) {
        umask(077);
        if (fchdir(dir_fd.get()) != 0) {
            _exit(127);
        }
        if (o.detach) {
            setsid();
            const int null = open("/dev/null", O_RDONLY);
            if (null < 0) {
                _exit(127);
            }
            dup2(null, STDIN_FILENO);
            dup2(log.get(), STDOUT_FILENO);
            dup2(log.get(), STDERR_FILENO);
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
    if (!write_run_file(dir_fd.get(), dir, "pid", std::to_string(pid) + "\n", &err)) {
        std::fprintf(stderr, "hypanda: %s\n", err.c_str());  // the emulator runs on: say so, go on
    }

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
    unlinkat(dir_fd.get(), "qmp.sock", 0);  // no guest answers there any more
    if (g.json) {
        std::cout << json{{"run", dir}, {"exit_status", code}, {"serial", dir + "/serial.log"}}.dump(2) << "\n";
    }
    // Like env(1) and timeout(1): the emulator's own status.
    return code;
}

}  // namespace hypanda::cli
