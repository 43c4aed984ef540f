// A recording's start snapshot, `snapshot.bin` (docs/recording.md): the
// CPU state (bytes the emulator serialises) and guest RAM, streamed in
// chunks compressed with zstd and written with io_uring.
//
//   header   "HYPNSNAP", u32 version, u32 architecture, u64 RAM bytes,
//            u32 CPU-state bytes, u32 chunk bytes (little-endian)
//   CPU state
//   chunks   per chunk of RAM: u32 RAM bytes, u32 compressed bytes, u64 XXH64
//            of the RAM bytes, the zstd frame
//   trailer  "HYPNSEND"
//
// The reader checks every field, every chunk's size and checksum, and that
// nothing follows the trailer; a problem is one line naming the file, the
// byte offset and what is wrong.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <functional>
#include <string>
#include <vector>

namespace hypanda::rr {

constexpr char kSnapshotMagic[8] = {'H', 'Y', 'P', 'N', 'S', 'N', 'A', 'P'};
constexpr char kSnapshotTrailer[8] = {'H', 'Y', 'P', 'N', 'S', 'E', 'N', 'D'};
constexpr uint32_t kSnapshotVersion = 1;
constexpr uint32_t kSnapshotChunkBytes = 1u << 20;
constexpr uint32_t kMaxCpuStateBytes = 16u << 20;
constexpr size_t kSnapshotHeaderBytes = 32;

class SnapshotWriter {
public:
    SnapshotWriter();
    ~SnapshotWriter();
    SnapshotWriter(const SnapshotWriter&) = delete;
    SnapshotWriter& operator=(const SnapshotWriter&) = delete;

    // Creates `name` in the folder `dir` (files.h: new, 0600, no link;
    // errors call it `shown`), writes the header and the CPU state.
    // `ram_bytes` of RAM must follow through write_ram().
    bool open(int dir, const std::string& name, const std::string& shown, uint32_t arch, uint64_t ram_bytes,
              const std::vector<uint8_t>& cpu_state, std::string* err);
    // The same for `path` from the working folder.
    bool open(const std::string& path, uint32_t arch, uint64_t ram_bytes, const std::vector<uint8_t>& cpu_state,
              std::string* err) {
        return open(AT_FDCWD, path, path, arch, ram_bytes, cpu_state, err);
    }
    // The next `n` bytes of RAM, in order; any split.
    void write_ram(const uint8_t* data, size_t n);
    // Writes the trailer, waits for every write and closes. False and the
    // first error since open() otherwise.
    bool finish(std::string* err);

    // The file's size and XXH64, for the manifest (valid after finish()).
    uint64_t bytes() const { return offset_; }
    uint64_t xxh64() const { return xxh64_; }

private:
    struct Impl;
    void emit(const uint8_t* data, size_t n);
    void flush_chunk();

    std::unique_ptr<Impl> impl_;
    std::string path_;
    std::string error_;
    uint64_t ram_bytes_ = 0;
    uint64_t ram_seen_ = 0;
    uint64_t offset_ = 0;
    uint64_t xxh64_ = 0;
    std::vector<uint8_t> chunk_;
};

// Reads a snapshot held in memory.
class SnapshotReader {
public:
    // Checks the header and takes the CPU state. `name` is what messages
    // call the file.
    bool open(const uint8_t* data, size_t size, const std::string& name, uint32_t arch, std::string* err);
    uint64_t ram_bytes() const { return ram_bytes_; }
    const std::vector<uint8_t>& cpu_state() const { return cpu_state_; }
    // Decompresses all of RAM into `ram` (ram_bytes() long), checking every
    // chunk, then the trailer.
    bool read_ram(uint8_t* ram, std::string* err);
    // The same, chunk by chunk: `sink(offset, bytes, n)` gets each checked
    // chunk's RAM (the bytes live until the next call).
    bool read_ram(const std::function<void(uint64_t, const uint8_t*, size_t)>& sink, std::string* err);

private:
    bool fail(std::string* err, size_t at, const std::string& what);

    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    size_t pos_ = 0;
    std::string name_;
    uint64_t ram_bytes_ = 0;
    uint32_t chunk_bytes_ = 0;
    std::vector<uint8_t> cpu_state_;
};

}  // namespace hypanda::rr
