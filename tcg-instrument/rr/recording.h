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
    std::vector<Event> events;  // the log's entries, the end entry last (LogEntries::Read)
    std::vector<uint8_t> log_file;  // the log itself, checked (LogEntries::Checked)
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
// The log is read to its end either way; its entries are kept as Events
// (Read), or the checked file is kept for a LogReader of the caller's, which
// spares a large log's copy (Checked: the emulator's replay).
enum class LogEntries { Read, Checked };
bool load_recording(const std::string& folder, Recording* r, std::string* err,
                    LogEntries entries = LogEntries::Read);

}  // namespace hypanda::rr
