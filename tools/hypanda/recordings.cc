// hypanda info / hypanda replay: a recording's manifest and statistics, and
// replaying it with plugins through the emulator (docs/cli.md).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "recording.h"
#include "result.h"

namespace hypanda::cli {
namespace {

using nlohmann::json;
namespace rr = hypanda::rr;

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

// A folder the user named that is not a recording: "" when it is one (or
// is no folder: the reader's own error says so), else why, naming the
// recordings it holds one level down. Links inside are not followed.
std::string not_a_recording(const std::string& name) {
    DIR* dir = opendir(name.c_str());
    if (dir == nullptr) {
        return "";
    }
    struct stat st;
    if (fstatat(dirfd(dir), rr::kManifestFile, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
        closedir(dir);
        return "";
    }
    std::vector<std::string> held;
    while (const dirent* e = readdir(dir)) {
        const std::string sub = e->d_name;
        if (sub == "." || sub == ".." ||
            fstatat(dirfd(dir), (sub + "/" + rr::kManifestFile).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || fstatat(dirfd(dir), sub.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(st.st_mode)) {
            continue;
        }
        held.push_back(sub);
    }
    closedir(dir);
    std::sort(held.begin(), held.end());
    std::string what = "not a recording (it has no " + std::string(rr::kManifestFile) + ")";
    if (held.empty()) {
        return what;
    }
    what += "; it holds the recording" + std::string(held.size() > 1 ? "s" : "");
    for (size_t i = 0; i < held.size(); i++) {
        what += (i == 0 ? " " : ", ") + name + (name.back() == '/' ? "" : "/") + held[i];
    }
    return what + ": give one of them";
}

}  // namespace

int cmd_info(const std::string& name, bool as_json) {
    Info info;
    std::string err = not_a_recording(name);
    if (!err.empty() || !rr::load_recording(name, &info.recording, &err)) {
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


namespace {

// The emulator's error lines (a plugin's, the replay's own), without its
// informational ones.
std::vector<std::string> error_lines(const std::string& err) {
    std::vector<std::string> errors;
    size_t start = 0;
    while (start < err.size()) {
        size_t end = err.find('\n', start);
        if (end == std::string::npos) {
            end = err.size();
        }
        const std::string line = err.substr(start, end - start);
        if (!line.empty() && line.find(": info: ") == std::string::npos &&
            line.find(": warning: ") == std::string::npos && line.rfind("replay verified", 0) != 0) {
            errors.push_back(line);
        }
        start = end + 1;
    }
    return errors;
}

// Reads and removes the emulator's -replay-result file and its folder.
bool take_result(const std::string& dir, rr::ReplayResult* result) {
    std::ifstream in(dir + "/result.json");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string err;
    const bool ok = rr::replay_result_from_json(text, result, &err);
    unlink((dir + "/result.json").c_str());
    rmdir(dir.c_str());
    return ok;
}

int replay_failed(const std::string& name, const std::vector<std::string>& plugins, bool as_json,
                  const std::string& what) {
    if (as_json) {
        std::cout << json{{"recording", name}, {"plugins", plugins}, {"verified", false},
                          {"errors", {"hypanda: replay " + name + ": " + what}}}
                         .dump(2)
                  << "\n";
    }
    std::fprintf(stderr, "hypanda: replay %s: %s\n", name.c_str(), what.c_str());
    return kExitFailed;
}

}  // namespace

// --verify: the recording's files are read and checked first (checksums,
// formats), then replayed with no plugins; verified means the replay
// reached the manifest's instruction count with its RAM hash, as the
// emulator's result file (rr/result.h) says.
int cmd_replay(const char* argv0, const std::string& name, const std::vector<std::string>& plugins, bool verify,
               bool as_json) {
    if (verify && !plugins.empty()) {
        std::fprintf(stderr, "hypanda: replay --verify only checks the recording; it takes no --plugin\n");
        return kExitUsage;
    }
    std::string folder_error = not_a_recording(name);
    rr::Recording recording;
    if (folder_error.empty() && verify) {
        rr::load_recording(name, &recording, &folder_error);
    }
    if (!folder_error.empty()) {
        return replay_failed(name, plugins, as_json, folder_error);
    }
    // With --json or --verify the outcome comes from the emulator's result
    // file, not from its words on stderr.
    const bool want_result = as_json || verify;
    std::string result_dir;
    std::vector<std::string> args = {emulator_path(argv0)};
    if (want_result) {
        const char* tmp = std::getenv("TMPDIR");
        std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hypanda-replay-XXXXXX";
        if (mkdtemp(templ.data()) == nullptr) {
            return replay_failed(name, plugins, as_json,
                                 std::string("cannot make a folder for the result: ") + std::strerror(errno));
        }
        result_dir = templ;
        args.insert(args.end(), {"-replay-result", result_dir + "/result.json"});
    }
    args.insert(args.end(), {"-replay", name});
    for (const std::string& p : plugins) {
        args.insert(args.end(), {"-panda", p});
    }
    std::string err;
    const int status = run_emulator(args, want_result, &err);
    if (status < 0) {
        if (!result_dir.empty()) {
            rmdir(result_dir.c_str());
        }
        return replay_failed(name, plugins, as_json, err);
    }
    if (!want_result) {
        return status == 0 ? 0 : kExitFailed;
    }
    rr::ReplayResult result;
    const bool have_result = take_result(result_dir, &result);
    bool verified = have_result && result.verified && status == 0;
    if (verify) {
        verified = verified && result.instructions == recording.manifest.instructions &&
                   result.recorded == recording.manifest.instructions;
    }
    const std::vector<std::string> errors = error_lines(err);
    if (as_json) {
        json out = {{"recording", name}, {"plugins", plugins}, {"verified", verified}};
        if (have_result) {
            out["instructions"] = result.instructions;
            out["recorded"] = result.recorded;
        }
        out["exit_status"] = status;
        out["errors"] = errors;
        out["plugin_output"] = "stderr";  // what plugins print goes there; files they write, where they say
        std::cout << out.dump(2) << "\n";
    } else if (verified) {
        std::printf("%s: verified: %" PRIu64 " instructions, RAM hash %s ok\n", name.c_str(), result.instructions,
                    rr::hex64(recording.manifest.ram_xxh64).c_str());
    } else {
        std::string why = have_result && !result.error.empty() ? result.error
                          : !errors.empty()                   ? errors.back()
                                                              : "the emulator ended with status " + std::to_string(status);
        std::fprintf(stderr, "hypanda: replay %s: not verified: %s\n", name.c_str(), why.c_str());
    }
    return verified ? 0 : kExitFailed;
}

}  // namespace hypanda::cli
