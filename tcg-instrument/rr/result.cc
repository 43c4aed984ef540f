// A replay's outcome as JSON (result.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "result.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "files.h"

namespace hypanda::rr {

using nlohmann::json;

std::string replay_result_to_json(const ReplayResult& r) {
    const json j = {{"format", "hypanda-replay-result"}, {"version", kReplayResultVersion},
                    {"recording", r.recording},          {"verified", r.verified},
                    {"instructions", r.instructions},    {"recorded", r.recorded},
                    {"error", r.error}};
    return j.dump(2) + "\n";
}

bool replay_result_from_json(const std::string& text, ReplayResult* r, std::string* err) {
    const json j = json::parse(text, nullptr, false);
    auto bad = [err](const std::string& what) {
        *err = "replay result: " + what;
        return false;
    };
    if (!j.is_object()) {
        return bad("not a JSON object");
    }
    if (!j.contains("format") || j["format"] != "hypanda-replay-result") {
        return bad("\"format\" is not \"hypanda-replay-result\"");
    }
    if (!j.contains("version") || !j["version"].is_number_unsigned() || j["version"] != kReplayResultVersion) {
        return bad("version is not " + std::to_string(kReplayResultVersion));
    }
    for (const char* key : {"instructions", "recorded"}) {
        if (!j.contains(key) || !j[key].is_number_unsigned()) {
            return bad(std::string("\"") + key + "\" is missing or not a count");
        }
    }
    for (const char* key : {"recording", "error"}) {
        if (!j.contains(key) || !j[key].is_string()) {
            return bad(std::string("\"") + key + "\" is missing or not a string");
        }
    }
    if (!j.contains("verified") || !j["verified"].is_boolean()) {
        return bad("\"verified\" is missing or not true/false");
    }
    r->recording = j["recording"].get<std::string>();
    r->verified = j["verified"].get<bool>();
    r->instructions = j["instructions"].get<uint64_t>();
    r->recorded = j["recorded"].get<uint64_t>();
    r->error = j["error"].get<std::string>();
    return true;
}

bool write_replay_result(const std::string& path, const ReplayResult& r, std::string* err) {
    ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    const std::string text = replay_result_to_json(r);
    if (!fd.ok() || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        *err = path + ": cannot write the replay's result: " + std::strerror(errno);
        return false;
    }
    return true;
}

}  // namespace hypanda::rr
