// hypanda: the command-line tool around the emulator (docs/cli.md):
//
//   hypanda info NAME [--json]   a recording's manifest and log statistics
//   hypanda replay NAME [--plugin name[:k=v,...]]... [--verify] [--json]
//                                replays it with the emulator (-replay), with
//                                a progress bar on a terminal
//
// Exit status: 0 done, 1 the work failed (one "hypanda: ..." line on stderr
// says why), 2 the command line was wrong.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <CLI/CLI.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "recording.h"

namespace {

using nlohmann::json;
namespace rr = hypanda::rr;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct Info {
    rr::Recording recording;
    const rr::Manifest& manifest = recording.manifest;
    const rr::LogStats& log = recording.stats;
};

double bytes_per_million(const Info& info) {
    return info.manifest.instructions == 0 ? 0.0 : info.recording.log_bytes * 1e6 / info.manifest.instructions;
}

void print_text(const std::string& name, const Info& info) {
    const rr::Manifest& m = info.manifest;
    std::printf("recording     %s (format version %u, %s)\n", name.c_str(), m.version, m.arch.c_str());
    std::printf("instructions  %" PRIu64 "\n", m.instructions);
    std::printf("RAM           %" PRIu64 " bytes, XXH64 at the end %s\n", m.ram_bytes, rr::hex64(m.ram_xxh64).c_str());
    std::printf("CPU model     %s\n", m.cpu_model.c_str());
    std::string cmd;
    for (const std::string& w : m.command_line) {
        cmd += (cmd.empty() ? "" : " ") + w;
    }
    std::printf("command line  %s\n", cmd.c_str());
    std::printf("snapshot      %s, %" PRIu64 " bytes, checksum ok, CPU state %zu bytes\n", m.snapshot.name.c_str(),
                m.snapshot.bytes, info.recording.machine.cpu.size());
    std::printf("RAM blocks   ");
    for (const rr::RamBlock& b : info.recording.machine.blocks) {
        std::printf(" %s %" PRIu64, b.name.c_str(), b.bytes);
    }
    std::printf("\n");
    std::printf("log           %s, %" PRIu64 " bytes, checksum ok, %.1f bytes per million instructions\n",
                m.log.name.c_str(), info.recording.log_bytes, bytes_per_million(info));
    std::printf("entries       %" PRIu64, info.log.entries);
    for (int k = 1; k < rr::kKinds; k++) {
        if (static_cast<rr::Kind>(k) != rr::Kind::End && info.log.per_kind[k] != 0) {
            std::printf(", %s %" PRIu64, rr::kind_name(static_cast<uint8_t>(k)), info.log.per_kind[k]);
        }
    }
    std::printf("\n");
    if (info.log.dma_bytes != 0) {
        std::printf("DMA           %" PRIu64 " bytes\n", info.log.dma_bytes);
    }
}

void print_json(const std::string& name, const Info& info) {
    json kinds = json::object();
    for (int k = 1; k < rr::kKinds; k++) {
        if (static_cast<rr::Kind>(k) != rr::Kind::End) {
            kinds[rr::kind_name(static_cast<uint8_t>(k))] = info.log.per_kind[k];
        }
    }
    json out = {
        {"recording", name},
        {"manifest", json::parse(rr::manifest_to_json(info.manifest))},
        {"log", {{"bytes", info.recording.log_bytes},
                 {"entries", info.log.entries},
                 {"entries_by_kind", kinds},
                 {"dma_bytes", info.log.dma_bytes},
                 {"bytes_per_million_instructions", bytes_per_million(info)}}},
        {"checked", true},
    };
    std::cout << out.dump(2) << "\n";
}

int cmd_info(const std::string& name, bool as_json) {
    Info info;
    std::string err;
    if (!rr::load_recording(name, &info.recording, &err)) {
        std::fprintf(stderr, "hypanda: info %s: %s\n", name.c_str(), err.c_str());
        return kExitFailed;
    }
    if (as_json) {
        print_json(name, info);
    } else {
        print_text(name, info);
    }
    return 0;
}

// The emulator: $HYPANDA_EMULATOR, else next to this tool as invoked
// (build/bin links both), else next to its binary, else on the PATH.
std::string emulator_path(const char* argv0) {
    const char* env = std::getenv("HYPANDA_EMULATOR");
    if (env != nullptr && *env != '\0') {
        return env;
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
            return p;
        }
    }
    return name;
}

// Runs the emulator; with `capture`, its standard error is returned in *err
// instead of shown (no progress bar then: it is not a terminal).
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

int cmd_replay(const char* argv0, const std::string& name, const std::vector<std::string>& plugins, bool verify,
               bool as_json) {
    if (verify && !plugins.empty()) {
        std::fprintf(stderr, "hypanda: replay --verify only checks the recording; it takes no --plugin\n");
        return kExitUsage;
    }
    std::vector<std::string> args = {emulator_path(argv0), "-replay", name};
    for (const std::string& p : plugins) {
        args.insert(args.end(), {"-panda", p});
    }
    std::string err;
    const int status = run_emulator(args, as_json, &err);
    if (status < 0) {
        std::fprintf(stderr, "hypanda: replay %s: %s\n", name.c_str(), err.c_str());
        return kExitFailed;
    }
    if (!as_json) {
        return status == 0 ? 0 : kExitFailed;
    }
    // "replay verified: N instructions, RAM hash ok", or error lines.
    json out = {{"recording", name}, {"plugins", plugins}, {"verified", false}};
    std::vector<std::string> errors;
    size_t start = 0;
    while (start < err.size()) {
        size_t end = err.find('\n', start);
        if (end == std::string::npos) {
            end = err.size();
        }
        const std::string line = err.substr(start, end - start);
        unsigned long long n = 0;
        if (std::sscanf(line.c_str(), "replay verified: %llu instructions, RAM hash ok", &n) == 1) {
            out["verified"] = status == 0;
            out["instructions"] = n;
        } else if (!line.empty() && line.find(": info: ") == std::string::npos &&
                   line.find(": warning: ") == std::string::npos) {
            errors.push_back(line);  // the emulator's error lines
        }
        start = end + 1;
    }
    out["exit_status"] = status;
    out["errors"] = errors;
    std::cout << out.dump(2) << "\n";
    return status == 0 ? 0 : kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"hypanda: record, replay and analyse guests with Hypanda (see docs/cli.md)", "hypanda"};
    app.require_subcommand(0, 1);
    bool version = false;
    app.add_flag("--version", version, "print the version and exit");

    std::string name;
    bool as_json = false;
    CLI::App* info = app.add_subcommand("info", "print a recording's manifest and log statistics, after checking it");
    info->add_option("NAME", name, "the recording's folder")->required();
    info->add_flag("--json", as_json, "print JSON instead of text");

    std::vector<std::string> plugins;
    bool verify = false;
    CLI::App* replay = app.add_subcommand("replay", "replay a recording with plugins, checking it against its manifest");
    replay->add_option("NAME", name, "the recording's folder")->required();
    replay->add_option("--plugin", plugins, "a plugin to load, as -panda takes it: name[:key=value,...]; repeatable")
        ->take_all()
        ->allow_extra_args(false);
    replay->add_flag("--verify", verify, "only check that the replay reaches the recorded end and RAM hash");
    replay->add_flag("--json", as_json, "print the outcome as JSON instead of the emulator's lines");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string what = e.what();
        std::fprintf(stderr, "hypanda: %s (hypanda --help lists the commands)\n", what.c_str());
        return kExitUsage;
    }
    if (version) {
        std::printf("hypanda %s\n", HYPANDA_VERSION);
        return 0;
    }
    if (info->parsed()) {
        return cmd_info(name, as_json);
    }
    if (replay->parsed()) {
        return cmd_replay(argv[0], name, plugins, verify, as_json);
    }
    std::fprintf(stderr, "hypanda: a command is required (hypanda --help lists them)\n");
    return kExitUsage;
}
