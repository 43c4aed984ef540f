// A recording's manifest (docs/recording.md): `manifest.json` in the
// recording's folder, versioned, naming the other files with their sizes and
// XXH64 checksums, and what replay checks itself against (instruction
// count, RAM hash).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hypanda::rr {

constexpr uint32_t kManifestVersion = 1;
constexpr const char* kManifestFile = "manifest.json";
constexpr const char* kLogFile = "nondet.log";
constexpr const char* kSnapshotFile = "snapshot.bin";

struct FileEntry {
    std::string name;
    uint64_t bytes = 0;
    uint64_t xxh64 = 0;

    bool operator==(const FileEntry& o) const { return name == o.name && bytes == o.bytes && xxh64 == o.xxh64; }
};

struct Manifest {
    uint32_t version = kManifestVersion;
    std::string arch = "x86_64";
    uint64_t ram_bytes = 0;
    uint64_t instructions = 0;  // guest instructions the recording spans
    uint64_t ram_xxh64 = 0;     // guest RAM at the end
    std::string cpu_model;
    std::vector<std::string> command_line;
    FileEntry snapshot;
    FileEntry log;

    bool operator==(const Manifest& o) const {
        return version == o.version && arch == o.arch && ram_bytes == o.ram_bytes &&
               instructions == o.instructions && ram_xxh64 == o.ram_xxh64 && cpu_model == o.cpu_model &&
               command_line == o.command_line && snapshot == o.snapshot && log == o.log;
    }
};

// The manifest as JSON text.
std::string manifest_to_json(const Manifest& m);

// Parses and checks a manifest's text: every field present with its type,
// a known version, the expected architecture, file names without a folder.
// False and one line in `*err` ("manifest.json: ...") otherwise.
bool manifest_from_json(const std::string& text, const std::string& arch, Manifest* m, std::string* err);

// XXH64 (seed 0) of a buffer, and its 16-digit hex form.
uint64_t xxh64(const void* data, size_t size);
std::string hex64(uint64_t v);

// Checks that `data` is the file the entry describes (size, checksum); one
// line in `*err` naming it otherwise.
bool check_file(const FileEntry& entry, const std::vector<uint8_t>& data, std::string* err);

}  // namespace hypanda::rr
