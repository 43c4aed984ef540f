// Child-process runner for the integration tests (see run.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "run.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cinttypes>
#include <fstream>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

extern char** environ;

namespace hypanda::test {
namespace {

// Owns one file descriptor.
class ScopedFd {
public:
    explicit ScopedFd(int fd = -1) : fd_(fd) {}
    ScopedFd(const ScopedFd&) = delete;
    ScopedFd& operator=(const ScopedFd&) = delete;
    ~ScopedFd() { reset(); }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) {
            close(fd_);
        }
        fd_ = -1;
    }

private:
    int fd_;
};

struct Pipe {
    ScopedFd read_end;
    ScopedFd write_end;
};

Pipe make_pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        std::fprintf(stderr, "fatal: pipe2: %s\n", std::strerror(errno));
        std::abort();
    }
    return Pipe{ScopedFd(fds[0]), ScopedFd(fds[1])};
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, std::chrono::seconds limit) {
    RunResult result;
    Pipe out = make_pipe();
    Pipe err = make_pipe();

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out.write_end.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err.write_end.get(), STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

    std::vector<char*> cargv;
    for (const auto& a : argv) {
        cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);

    pid_t pid = -1;
    int rc = posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    out.write_end.reset();
    err.write_end.reset();
    if (rc != 0) {
        result.err = "cannot start " + argv[0] + ": " + std::strerror(rc);
        return result;
    }

    const auto deadline = std::chrono::steady_clock::now() + limit;
    pollfd fds[2] = {{out.read_end.get(), POLLIN, 0}, {err.read_end.get(), POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open_fds = 2;
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        int n = poll(fds, 2, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            char buf[4096];
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                sinks[i]->append(buf, static_cast<size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }

    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) {
        result.exit_status = WEXITSTATUS(status);
    }
    return result;
}

Child::Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env, bool stdin_pipe) {
    char dir[] = "/tmp/hypanda-child-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
        start_error_ = std::string("mkdtemp: ") + std::strerror(errno);
        return;
    }
    dir_ = dir;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    int in_pipe[2] = {-1, -1};
    if (stdin_pipe && pipe2(in_pipe, O_CLOEXEC) == 0) {
        posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
        stdin_fd_ = in_pipe[1];
    } else {
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (dir_ + "/out").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (dir_ + "/err").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<char*> cargv;
    for (const auto& a : argv) {
        cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; e++) {
        env_strings.push_back(*e);
    }
    env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> cenv;
    for (auto& e : env_strings) {
        cenv.push_back(e.data());
    }
    cenv.push_back(nullptr);
    int rc = posix_spawnp(&pid_, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    if (in_pipe[0] >= 0) {
        close(in_pipe[0]);
    }
    if (rc != 0) {
        pid_ = -1;
        start_error_ = "cannot start " + argv[0] + ": " + std::strerror(rc);
    }
}

Child::~Child() {
    if (stdin_fd_ >= 0) {
        close(stdin_fd_);
    }
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) {
        unlink((dir_ + "/out").c_str());
        unlink((dir_ + "/err").c_str());
        rmdir(dir_.c_str());
    }
}

namespace {

// Waits up to `limit` for `pid` to exit, then SIGKILLs it; the exit status
// and time-out go into `result`. `at_time_limit` runs just before the kill.
void wait_bounded(pid_t pid, std::chrono::seconds limit, RunResult* result,
                  const std::function<void()>& at_time_limit = {}) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            result->timed_out = true;
            if (at_time_limit) {
                at_time_limit();
            }
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (WIFEXITED(status)) {
        result->exit_status = WEXITSTATUS(status);
    }
}

}  // namespace

RunResult run_showing_output(const std::vector<std::string>& argv, std::chrono::seconds limit,
                             const std::function<void()>& at_time_limit) {
    RunResult result;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    std::vector<char*> cargv;
    for (const auto& a : argv) {
        cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);
    std::fflush(nullptr);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        result.err = "cannot start " + argv[0] + ": " + std::strerror(rc);
        return result;
    }
    wait_bounded(pid, limit, &result, at_time_limit);
    return result;
}

RunResult Child::wait(std::chrono::seconds limit) {
    RunResult result;
    if (pid_ <= 0) {
        result.err = start_error_;
        return result;
    }
    wait_bounded(pid_, limit, &result);
    pid_ = -1;
    result.out = read_file(dir_ + "/out");
    result.err = read_file(dir_ + "/err");
    return result;
}

void Child::signal(int sig) {
    if (pid_ > 0) {
        kill(pid_, sig);
    }
}

void Child::write_stdin(const std::string& text) {
    ::signal(SIGPIPE, SIG_IGN);  // a child that is gone gets nothing, and we live on
    size_t done = 0;
    while (stdin_fd_ >= 0 && done < text.size()) {
        ssize_t n = write(stdin_fd_, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        done += static_cast<size_t>(n);
    }
}

std::string Child::out_so_far() const { return read_file(dir_ + "/out"); }

TempDir::TempDir() {
    char dir[] = "/tmp/hypanda-test-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
        std::fprintf(stderr, "fatal: mkdtemp: %s\n", std::strerror(errno));
        std::abort();
    }
    path_ = dir;
}

TempDir::~TempDir() {
    if (DIR* d = opendir(path_.c_str())) {
        while (dirent* e = readdir(d)) {
            std::string name = e->d_name;
            if (name != "." && name != "..") {
                unlink((path_ + "/" + name).c_str());
            }
        }
        closedir(d);
    }
    rmdir(path_.c_str());
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::map<std::string, uint64_t> read_counts(const std::string& path) {
    std::map<std::string, uint64_t> counts;
    std::istringstream in(read_file(path));
    std::string name;
    uint64_t value;
    while (in >> name >> value) {
        counts[name] = value;
    }
    return counts;
}

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

bool kvm_usable(std::string* why) {
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        *why = access("/dev/kvm", F_OK) == 0 ? "/dev/kvm cannot be opened" : "/dev/kvm is absent";
        return false;
    }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    if (api != KVM_API_VERSION) {
        *why = "/dev/kvm does not answer as KVM (API version " + std::to_string(api) + ")";
        return false;
    }
    return true;
}

std::string describe(const RunResult& r) {
    std::string s = "exit status ";
    s += r.exit_status ? std::to_string(*r.exit_status) : std::string("(killed)");
    s += r.timed_out ? ", timed out" : "";
    return s + "\n--- stdout\n" + r.out + "\n--- stderr\n" + r.err;
}

std::string build_root() {
    const char* root = std::getenv("HYPANDA_BUILD_ROOT");
    if (root == nullptr || *root == '\0') {
        std::fprintf(stderr,
                     "error: HYPANDA_BUILD_ROOT is not set; run the tests with "
                     "'meson test -C build' or 'make check'\n");
        std::exit(2);
    }
    return root;
}

std::string emulator() { return build_root() + "/bin/hypanda-system-x86_64"; }

std::vector<std::string> lines_starting_with(const std::string& text,
                                             const std::string& prefix) {
    std::vector<std::string> found;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.compare(0, prefix.size(), prefix) == 0) {
            found.push_back(line);
        }
    }
    return found;
}

std::string only_line(const std::string& text, const std::string& prefix) {
    const auto lines = lines_starting_with(text, prefix);
    if (lines.size() == 1) {
        return lines[0];
    }
    return "<" + std::to_string(lines.size()) + " lines start with '" + prefix + "'>";
}

std::vector<std::string> guest_args(const std::string& append,
                                    const std::vector<std::string>& extra) {
    std::vector<std::string> args = {
        emulator(), "-display", "none", "-serial", "stdio", "-monitor", "none",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        "-kernel", build_root() + "/tests/guest/hptest.elf",
        "-append", append,
    };
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

}  // namespace hypanda::test
