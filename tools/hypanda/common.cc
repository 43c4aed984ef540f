// Shared pieces of the hypanda subcommands (common.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "common.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hypanda::cli {

std::string absolute_path(const std::string& path) {
    if (path.empty() || path[0] == '/') {
        return path;
    }
    if (char* real = realpath(path.c_str(), nullptr)) {
        std::string s = real;
        free(real);
        return s;
    }
    char cwd[4096];
    return getcwd(cwd, sizeof cwd) != nullptr ? std::string(cwd) + "/" + path : path;
}

int fail(const std::string& what) {
    std::fprintf(stderr, "hypanda: %s\n", what.c_str());
    return kExitFailed;
}

std::string emulator_path(const char* argv0) {
    const char* env = std::getenv("HYPANDA_EMULATOR");
    if (env != nullptr && *env != '\0') {
        // Absolute: `hypanda run` starts it from the run folder.
        return std::string(env).find('/') == std::string::npos ? env : absolute_path(env);
    }
    const char* name = "hypanda-system-x86_64";
    std::vector<std::string> dirs;
    const std::string invoked = argv0;
    if (invoked.find('/') != std::string::npos) {
        dirs.push_back(invoked.substr(0, invoked.rfind('/')));
    }
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        const std::string exe(self, n);
        dirs.push_back(exe.substr(0, exe.rfind('/')));
    }
    for (const std::string& d : dirs) {
        const std::string p = d + "/" + name;
        if (access(p.c_str(), X_OK) == 0) {
            return absolute_path(p);
        }
    }
    return name;
}

int run_emulator(const std::vector<std::string>& args, bool capture, std::string* err) {
    std::vector<char*> argv;
    for (const std::string& a : args) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    int pipefd[2] = {-1, -1};
    if (capture && pipe(pipefd) != 0) {
        *err = std::string("cannot make a pipe: ") + std::strerror(errno);
        return -1;
    }
    const pid_t pid = fork();
    if (pid < 0) {
        *err = std::string("cannot start the emulator: ") + std::strerror(errno);
        return -1;
    }
    if (pid == 0) {
        if (capture) {
            dup2(STDERR_FILENO, STDOUT_FILENO);  // plugins' own lines: not in our JSON
            dup2(pipefd[1], STDERR_FILENO);
            close(pipefd[0]);
            close(pipefd[1]);
        }
        execvp(argv[0], argv.data());
        std::fprintf(stderr, "hypanda: cannot run %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    if (capture) {
        close(pipefd[1]);
        char buf[4096];
        ssize_t got;
        while ((got = read(pipefd[0], buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR)) {
            if (got > 0) {
                err->append(buf, got);
            }
        }
        close(pipefd[0]);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    *err += "the emulator was killed by signal " + std::to_string(WTERMSIG(status)) + "\n";
    return 128 + WTERMSIG(status);
}

bool analysis_of(const GuestOptions& o, const std::string& recordings, libvirt::Analysis* out, std::string* err) {
    *out = libvirt::Analysis{};
    for (const std::string& spec : o.plugins) {
        const size_t colon = spec.find(':');
        libvirt::PluginSetting p{spec.substr(0, colon), {}};
        if (p.name.empty()) {
            *err = "--plugin '" + spec + "': no plugin name before ':'";
            return false;
        }
        std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
        for (size_t at = 0; at < rest.size();) {
            size_t comma = rest.find(',', at);
            if (comma == std::string::npos) {
                comma = rest.size();
            }
            const std::string kv = rest.substr(at, comma - at);
            const size_t eq = kv.find('=');
            if (eq == std::string::npos || eq == 0) {
                *err = "--plugin '" + spec + "': '" + kv + "' is not key=value";
                return false;
            }
            p.args.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
            at = comma + 1;
        }
        out->plugins.push_back(std::move(p));
    }
    out->hybrid = o.hybrid;
    out->hybrid_start = o.start;
    out->hypercall = !o.hypercall.empty();
    out->hypercall_allow = o.hypercall;
    out->hypercall_record = o.hypercall_record;
    out->recordings = recordings;
    out->emulator_args = o.emulator_args;
    if (!o.cpu.empty()) {
        out->emulator_args.insert(out->emulator_args.begin(), {"-cpu", o.cpu});
    }
    if (!out->hypercall_record.empty() && !out->hypercall) {
        *err = "--hypercall-record needs --hypercall ALLOW (with 'record' among its classes)";
        return false;
    }
    if (!o.start.empty() && !o.hybrid) {
        *err = "--start needs --hybrid";
        return false;
    }
    // The metadata reader checks values (allow classes, names, ...): the
    // options are checked exactly as a domain's metadata is.
    const std::string xml = "<domain><metadata>" + libvirt::analysis_xml(*out) + "</metadata></domain>";
    libvirt::Domain d;
    if (!libvirt::parse_domain(xml, "options", &d, err)) {
        const size_t at = err->find(": <");
        *err = "options" + (at == std::string::npos ? ": " + *err : err->substr(at));
        return false;
    }
    return true;
}

}  // namespace hypanda::cli
