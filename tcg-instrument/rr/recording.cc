// Reading a whole recording (recording.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "recording.h"

#include "files.h"

namespace hypanda::rr {

bool load_recording(const std::string& folder, Recording* r, std::string* err, LogEntries entries) {
    const ScopedFd dir = open_folder(folder, err);
    if (!dir.ok()) {
        return false;
    }
    std::vector<uint8_t> bytes;
    if (!read_file_at(dir.get(), kManifestFile, &bytes, err) ||
        !manifest_from_json(std::string(bytes.begin(), bytes.end()), "x86_64", &r->manifest, err)) {
        return false;
    }
    const Manifest& m = r->manifest;
    if (!read_file_at(dir.get(), m.snapshot.name, &r->snapshot_file, err) ||
        !check_file(m.snapshot, r->snapshot_file, err) ||
        !r->snapshot.open(r->snapshot_file.data(), r->snapshot_file.size(), m.snapshot.name, kArchX86_64, err) ||
        !parse_machine_state(r->snapshot.cpu_state(), m.snapshot.name, &r->machine, err)) {
        return false;
    }
    uint64_t total = 0;
    for (const RamBlock& b : r->machine.blocks) {
        total += b.bytes;
    }
    if (total != r->snapshot.ram_bytes()) {
        *err = m.snapshot.name + ": its RAM blocks add up to " + std::to_string(total) + " bytes, it holds " +
               std::to_string(r->snapshot.ram_bytes());
        return false;
    }
    if (r->machine.blocks[0].bytes != m.ram_bytes) {
        *err = m.snapshot.name + ": holds " + std::to_string(r->machine.blocks[0].bytes) +
               " bytes of guest RAM, the manifest says " + std::to_string(m.ram_bytes);
        return false;
    }
    if (!read_file_at(dir.get(), m.log.name, &bytes, err) || !check_file(m.log, bytes, err)) {
        return false;
    }
    r->log_bytes = bytes.size();
    r->events.clear();
    if (!read_log(bytes.data(), bytes.size(), m.log.name, kArchX86_64, &r->stats,
                  entries == LogEntries::Read ? &r->events : nullptr, err)) {
        return false;
    }
    if (entries == LogEntries::Checked) {
        r->log_file = std::move(bytes);
    }
    if (r->stats.last_icount != m.instructions) {
        *err = m.log.name + ": ends at instruction " + std::to_string(r->stats.last_icount) +
               ", the manifest says the recording spans " + std::to_string(m.instructions);
        return false;
    }
    return true;
}

}  // namespace hypanda::rr
