// Reading a whole recording (recording.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "recording.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace hypanda::rr {

bool read_file(const std::string& path, const std::string& shown, std::vector<uint8_t>* out, std::string* err) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        *err = shown + ": cannot open: " + std::strerror(errno);
        return false;
    }
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) {
        *err = shown + ": read failed";
        return false;
    }
    return true;
}

bool load_recording(const std::string& folder, Recording* r, std::string* err) {
    std::vector<uint8_t> bytes;
    if (!read_file(folder + "/" + kManifestFile, kManifestFile, &bytes, err) ||
        !manifest_from_json(std::string(bytes.begin(), bytes.end()), "x86_64", &r->manifest, err)) {
        return false;
    }
    const Manifest& m = r->manifest;
    if (!read_file(folder + "/" + m.snapshot.name, m.snapshot.name, &r->snapshot_file, err) ||
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
    if (!read_file(folder + "/" + m.log.name, m.log.name, &bytes, err) || !check_file(m.log, bytes, err)) {
        return false;
    }
    r->log_bytes = bytes.size();
    r->events.clear();
    if (!read_log(bytes.data(), bytes.size(), m.log.name, kArchX86_64, &r->stats, &r->events, err)) {
        return false;
    }
    if (r->stats.last_icount != m.instructions) {
        *err = m.log.name + ": ends at instruction " + std::to_string(r->stats.last_icount) +
               ", the manifest says the recording spans " + std::to_string(m.instructions);
        return false;
    }
    return true;
}

}  // namespace hypanda::rr
