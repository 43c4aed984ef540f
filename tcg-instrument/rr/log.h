// The nondet log of a recording (docs/recording.md): everything that entered
// CPU + RAM during the recording, in order, each entry with the guest
// instruction count at which it entered. Binary and versioned:
//
//   header  "HYPNDLOG", u32 version, u32 architecture (ELF e_machine),
//           all little-endian
//   entries kind (u8), instruction-count delta (LEB128), call site (LEB128),
//           then the kind's fields (LEB128 numbers, raw bytes for DMA)
//   end     an End entry: the recording's last instruction count and the
//           number of entries before it; nothing may follow it
//
// The reader trusts nothing: every field is bounds-checked, and any problem
// is one line naming the file, the byte offset and what is wrong.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace hypanda::rr {

constexpr char kLogMagic[8] = {'H', 'Y', 'P', 'N', 'D', 'L', 'O', 'G'};
constexpr uint32_t kLogVersion = 2;         // written; read: 1 (kinds up to End) and 2
constexpr uint32_t kArchX86_64 = 62;          // ELF EM_X86_64
constexpr uint64_t kMaxDmaBytes = 64u << 20;  // one entry's data, at most
constexpr size_t kLogHeaderBytes = 16;

enum class Kind : uint8_t {
    PortRead = 1,     // addr = port, size = bytes, value
    MmioRead = 2,     // addr = guest-physical address, size = bytes, value
    DmaWrite = 3,     // addr = guest-physical address, data
    Interrupt = 4,    // value = the interrupt request bits taken, addr = vector + 1 (0: none read)
    Rdtsc = 5,        // value
    Rdrand = 6,       // value
    Rdseed = 7,       // value
    ExitRequest = 8,  // nothing
    End = 9,          // value = entries before it; icount = the last one
    // Version 2: what devices did that the guest does not depend on, kept
    // for plugins (replay_* callbacks), without effect in replay.
    DmaRead = 10,     // addr = guest-physical address, length: a device read RAM
    Disk = 11,        // size = transfer type (DiskTransfer), addr = guest-physical address,
                      // value = byte offset on the disk, length
    Packet = 12,      // size = direction (PacketDirection), addr = guest-physical address of
                      // the first buffer (0: not known), data = the frame
};
constexpr int kKinds = 13;  // indexes by Kind value; 0 unused

// Disk entries' types, PANDA's Hd_transfer_type numbers.
enum class DiskTransfer : uint8_t {
    HdToIob = 0,   // the disk into a device's own buffer
    IobToHd = 1,
    PortToIob = 2, // the guest's port writes into that buffer (PIO)
    IobToPort = 3,
    HdToRam = 4,   // DMA: the disk into guest RAM
    RamToHd = 5,
};
constexpr uint8_t kDiskTransferTypes = 6;

// Packet entries' directions, PANDA's numbers.
enum class PacketDirection : uint8_t { Received = 0, Sent = 1 };
constexpr uint64_t kMaxPacketBytes = 65536 + 64;  // a frame, at most (virtio-net's largest with its header)

// The kind's name in messages and statistics ("port-read", ...), or
// nullptr for a byte that is no kind.
const char* kind_name(uint8_t kind);

struct Event {
    uint64_t icount = 0;  // guest instructions executed before it entered
    Kind kind = Kind::End;
    uint32_t site = 0;    // where in the emulator it was recorded
    uint64_t addr = 0;
    uint8_t size = 0;
    uint64_t value = 0;
    uint64_t length = 0;  // DmaRead, Disk
    std::vector<uint8_t> data;

    bool operator==(const Event& o) const {
        return icount == o.icount && kind == o.kind && site == o.site && addr == o.addr &&
               size == o.size && value == o.value && length == o.length && data == o.data;
    }
};

// Appends entries to a new log file. Errors are sticky: the first one is
// kept and returned by finish().
class LogWriter {
public:
    LogWriter() = default;
    ~LogWriter();
    LogWriter(const LogWriter&) = delete;
    LogWriter& operator=(const LogWriter&) = delete;

    // Creates `name` in the folder `dir` (files.h: new, 0600, no link; errors
    // call it `shown`) and writes the header. False and `*err` on failure.
    bool open(int dir, const std::string& name, const std::string& shown, uint32_t arch, std::string* err);
    // The same for `path` from the working folder.
    bool open(const std::string& path, uint32_t arch, std::string* err) {
        return open(AT_FDCWD, path, path, arch, err);
    }
    // Entries must come in instruction-count order; End is written by
    // finish(), not here.
    void append(const Event& e);
    // Writes the End entry and closes the file. False and `*err` on any
    // error since open().
    bool finish(uint64_t last_icount, std::string* err);

    uint64_t entries() const { return entries_; }
    uint64_t bytes() const { return bytes_; }

private:
    void put(const uint8_t* p, size_t n);
    void put_uleb(uint64_t v);
    void flush();

    std::FILE* file_ = nullptr;
    std::string path_;
    std::string error_;
    std::vector<uint8_t> buffer_;
    uint64_t last_icount_ = 0;
    uint64_t entries_ = 0;
    uint64_t bytes_ = 0;
};

// Reads a log held in memory (the whole file). next() gives the entries in
// order, End last; after End, or after an error, it returns false.
class LogReader {
public:
    // Checks the header. `name` is what messages call the file.
    bool open(const uint8_t* data, size_t size, const std::string& name, uint32_t arch,
              std::string* err);
    // The next entry into *e. False at the end (after End) or on an error,
    // which is then in *err (empty at a clean end).
    bool next(Event* e, std::string* err);

    uint32_t version() const { return version_; }
    size_t offset() const { return pos_; }
    // With in_place, entries' bytes (DMA, packets) are not copied into
    // Event::data: in_place_data() points at the last entry's inside the
    // log, which must outlive them.
    void set_in_place(bool in_place) { in_place_ = in_place; }
    const uint8_t* in_place_data() const { return in_place_data_; }
    size_t in_place_size() const { return in_place_size_; }

private:
    bool fail(std::string* err, size_t at, const std::string& what);
    bool get_uleb(uint64_t* v, std::string* err, const char* field);
    bool get_u8(uint8_t* v, std::string* err, const char* field);

    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    size_t pos_ = 0;
    std::string name_;
    uint32_t version_ = 0;
    uint64_t icount_ = 0;
    uint64_t entries_ = 0;
    bool done_ = false;
    bool in_place_ = false;
    const uint8_t* in_place_data_ = nullptr;
    size_t in_place_size_ = 0;
};

// Statistics of a whole log: entries per kind, DMA bytes, the last
// instruction count; false and `*err` if it does not read to a clean End.
struct LogStats {
    uint64_t entries = 0;
    uint64_t per_kind[kKinds] = {};
    uint64_t dma_bytes = 0;
    uint64_t packet_bytes = 0;
    uint64_t last_icount = 0;
};
bool read_log(const uint8_t* data, size_t size, const std::string& name, uint32_t arch, LogStats* stats,
              std::vector<Event>* events, std::string* err);

}  // namespace hypanda::rr
