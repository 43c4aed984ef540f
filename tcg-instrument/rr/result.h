// A replay's outcome, machine-readable: the emulator writes it (`-replay
// NAME -replay-result FILE`, through engine.h) when it ends, and `hypanda
// replay` and the tests read it. This file is the one definition.
//
//   {"format": "hypanda-replay-result", "version": 1, "recording": NAME,
//    "verified": true|false, "instructions": N, "recorded": M, "error": ""}
//
// `instructions` is where the replay stood when it ended (the recorded end
// when verified, the diverging instruction otherwise, 0 when it did not
// start); `recorded` the manifest's count (0 when it could not be read);
// `error` the one error line the emulator printed, without its program
// name ("" when verified).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>

namespace hypanda::rr {

constexpr uint32_t kReplayResultVersion = 1;

struct ReplayResult {
    std::string recording;
    bool verified = false;
    uint64_t instructions = 0;
    uint64_t recorded = 0;
    std::string error;

    bool operator==(const ReplayResult& o) const {
        return recording == o.recording && verified == o.verified && instructions == o.instructions &&
               recorded == o.recorded && error == o.error;
    }
};

std::string replay_result_to_json(const ReplayResult& r);

// Checks every field and its type; false and one line in `*err` otherwise.
[[nodiscard]] bool replay_result_from_json(const std::string& text, ReplayResult* r, std::string* err);

// Writes `r` to `path` (created or truncated, never through a link, 0600).
[[nodiscard]] bool write_replay_result(const std::string& path, const ReplayResult& r, std::string* err);

}  // namespace hypanda::rr
