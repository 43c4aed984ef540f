// A whole recording read and checked (docs/recording.md): the manifest,
// both files against it, the snapshot's header and machine state, and the
// log to its end. Shared by the emulator's replay and `hypanda info`.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "log.h"
#include "machine.h"
#include "manifest.h"
#include "snapshot.h"

namespace hypanda::rr {

struct Recording {
    Manifest manifest;
    std::vector<uint8_t> snapshot_file;
    SnapshotReader snapshot;  // reads snapshot_file: a Recording stays where it is made
    MachineState machine;
    std::vector<Event> events;  // the log's entries, the end entry last
    LogStats stats;
    uint64_t log_bytes = 0;

    Recording() = default;
    Recording(const Recording&) = delete;
    Recording& operator=(const Recording&) = delete;
};

// Checks everything that can be checked without replaying (reading no
// file through a link, files.h): files against
// the manifest, the snapshot's RAM against its block table, the first block
// against the manifest's RAM size, the log's end against its instructions.
bool load_recording(const std::string& folder, Recording* r, std::string* err);

}  // namespace hypanda::rr
