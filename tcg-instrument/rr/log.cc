// The nondet log's writer and reader (log.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "log.h"


#include <cerrno>
#include <cstring>

#include "files.h"

namespace hypanda::rr {
namespace {

constexpr size_t kFlushAt = 1 << 16;

// The fields each kind has, in this order: address, size byte, value,
// length, data (length-prefixed bytes).
bool has_address(Kind k) {
    return k == Kind::PortRead || k == Kind::MmioRead || k == Kind::DmaWrite || k == Kind::Interrupt ||
           k == Kind::DmaRead || k == Kind::Disk || k == Kind::Packet;
}
bool has_size(Kind k) { return k == Kind::PortRead || k == Kind::MmioRead || k == Kind::Disk || k == Kind::Packet; }
bool has_value(Kind k) {
    return k == Kind::PortRead || k == Kind::MmioRead || k == Kind::Interrupt || k == Kind::Rdtsc ||
           k == Kind::Rdrand || k == Kind::Rdseed || k == Kind::End || k == Kind::Disk;
}
bool has_length(Kind k) { return k == Kind::DmaRead || k == Kind::Disk; }
bool has_data(Kind k) { return k == Kind::DmaWrite || k == Kind::Packet; }
uint64_t max_data(Kind k) { return k == Kind::Packet ? kMaxPacketBytes : kMaxDmaBytes; }
// The newest kind a version has.
uint8_t last_kind(uint32_t version) {
    return static_cast<uint8_t>(version == 1 ? Kind::End : Kind::Packet);
}

void put_le32(std::vector<uint8_t>* out, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        out->push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}

uint32_t get_le32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

}  // namespace

const char* kind_name(uint8_t kind) {
    static const char* const names[kKinds] = {nullptr,  "port-read", "mmio-read", "dma-write",    "interrupt",
                                              "rdtsc",  "rdrand",    "rdseed",    "exit-request", "end",
                                              "dma-read", "disk",    "packet"};
    return kind < kKinds ? names[kind] : nullptr;
}

// ---- writer ----

LogWriter::~LogWriter() {
    if (file_ != nullptr) {
        std::fclose(file_);
    }
}

bool LogWriter::open(int dir, const std::string& name, const std::string& shown, uint32_t arch, std::string* err) {
    path_ = shown;
    ScopedFd fd = create_file_at(dir, name, shown, err);
    if (!fd.ok()) {
        return false;
    }
    file_ = fdopen(fd.get(), "wb");
    if (file_ == nullptr) {
        *err = shown + ": cannot create: " + std::strerror(errno);
        return false;
    }
    fd.release();
    buffer_.assign(kLogMagic, kLogMagic + sizeof kLogMagic);
    put_le32(&buffer_, kLogVersion);
    put_le32(&buffer_, arch);
    bytes_ = buffer_.size();
    return true;
}

void LogWriter::put(const uint8_t* p, size_t n) {
    buffer_.insert(buffer_.end(), p, p + n);
    bytes_ += n;
    if (buffer_.size() >= kFlushAt) {
        flush();
    }
}

void LogWriter::put_uleb(uint64_t v) {
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = static_cast<uint8_t>(v & 0x7f);
        v >>= 7;
        b[n++] |= v != 0 ? 0x80 : 0;
    } while (v != 0);
    put(b, n);
}

void LogWriter::flush() {
    if (file_ != nullptr && !buffer_.empty() && error_.empty() &&
        std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
        error_ = path_ + ": write failed: " + std::strerror(errno);
    }
    buffer_.clear();
}

void LogWriter::append(const Event& e) {
    if (e.icount < last_icount_ && error_.empty()) {
        error_ = path_ + ": entries out of instruction-count order (" + std::to_string(e.icount) +
                 " after " + std::to_string(last_icount_) + ")";
    }
    if (has_data(e.kind) && e.data.size() > max_data(e.kind) && error_.empty()) {
        error_ = path_ + ": a " + kind_name(static_cast<uint8_t>(e.kind)) + " entry of " +
                 std::to_string(e.data.size()) + " bytes is over the " + std::to_string(max_data(e.kind)) +
                 "-byte limit";
    }
    const uint8_t kind = static_cast<uint8_t>(e.kind);
    put(&kind, 1);
    put_uleb(e.icount - last_icount_);
    put_uleb(e.site);
    if (has_address(e.kind)) {
        put_uleb(e.addr);
    }
    if (has_size(e.kind)) {
        put(&e.size, 1);
    }
    if (has_value(e.kind)) {
        put_uleb(e.value);
    }
    if (has_length(e.kind)) {
        put_uleb(e.length);
    }
    if (has_data(e.kind)) {
        put_uleb(e.data.size());
        put(e.data.data(), e.data.size());
    }
    last_icount_ = e.icount;
    entries_++;
}

bool LogWriter::finish(uint64_t last_icount, std::string* err) {
    Event end;
    end.kind = Kind::End;
    end.icount = last_icount < last_icount_ ? last_icount_ : last_icount;
    end.value = entries_;
    append(end);
    entries_--;  // End is not an entry of the recording
    flush();
    if (file_ != nullptr && std::fclose(file_) != 0 && error_.empty()) {
        error_ = path_ + ": close failed: " + std::strerror(errno);
    }
    file_ = nullptr;
    if (!error_.empty()) {
        *err = error_;
        return false;
    }
    return true;
}

// ---- reader ----

bool LogReader::fail(std::string* err, size_t at, const std::string& what) {
    *err = name_ + ": " + what + " at byte " + std::to_string(at) + " (entry " + std::to_string(entries_) + ")";
    done_ = true;
    return false;
}

bool LogReader::open(const uint8_t* data, size_t size, const std::string& name, uint32_t arch,
                     std::string* err) {
    data_ = data;
    size_ = size;
    name_ = name;
    pos_ = 0;
    done_ = false;
    if (size < kLogHeaderBytes) {
        *err = name + ": truncated: " + std::to_string(size) + " bytes, shorter than the " +
               std::to_string(kLogHeaderBytes) + "-byte header";
        done_ = true;
        return false;
    }
    if (std::memcmp(data, kLogMagic, sizeof kLogMagic) != 0) {
        *err = name + ": not a Hypanda nondet log (no HYPNDLOG magic)";
        done_ = true;
        return false;
    }
    version_ = get_le32(data + 8);
    if (version_ < 1 || version_ > kLogVersion) {
        *err = name + ": format version " + std::to_string(version_) + " is not supported (this build reads versions 1 to " +
               std::to_string(kLogVersion) + ")";
        done_ = true;
        return false;
    }
    const uint32_t file_arch = get_le32(data + 12);
    if (file_arch != arch) {
        *err = name + ": recorded for architecture " + std::to_string(file_arch) + " (ELF machine), not " +
               std::to_string(arch);
        done_ = true;
        return false;
    }
    pos_ = kLogHeaderBytes;
    return true;
}

bool LogReader::get_u8(uint8_t* v, std::string* err, const char* field) {
    if (pos_ >= size_) {
        return fail(err, pos_, std::string("truncated: no ") + field);
    }
    *v = data_[pos_++];
    return true;
}

bool LogReader::get_uleb(uint64_t* v, std::string* err, const char* field) {
    const size_t start = pos_;
    uint64_t result = 0;
    for (int shift = 0;; shift += 7) {
        if (pos_ >= size_) {
            return fail(err, start, std::string("truncated: ") + field + " ends with the file");
        }
        const uint8_t b = data_[pos_++];
        if (shift == 63 && (b & 0x7e) != 0) {
            return fail(err, start, std::string("corrupt: ") + field + " does not fit 64 bits");
        }
        result |= static_cast<uint64_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            break;
        }
        if (shift == 63) {
            return fail(err, start, std::string("corrupt: ") + field + " does not fit 64 bits");
        }
    }
    *v = result;
    return true;
}

bool LogReader::next(Event* e, std::string* err) {
    err->clear();
    if (done_) {
        return false;
    }
    const size_t start = pos_;
    if (pos_ >= size_) {
        return fail(err, pos_, "truncated: the log ends without its end entry");
    }
    uint8_t kind = 0;
    get_u8(&kind, err, "kind");
    if (kind_name(kind) == nullptr || kind > last_kind(version_)) {
        return fail(err, start, "corrupt: unknown entry kind " + std::to_string(kind) +
                                    (kind_name(kind) != nullptr ? " in a version " + std::to_string(version_) + " log" : ""));
    }
    *e = Event();
    e->kind = static_cast<Kind>(kind);
    uint64_t delta = 0, site = 0;
    if (!get_uleb(&delta, err, "instruction-count delta") || !get_uleb(&site, err, "call site")) {
        return false;
    }
    if (delta > UINT64_MAX - icount_) {
        return fail(err, start, "corrupt: instruction count overflows");
    }
    if (site > UINT32_MAX) {
        return fail(err, start, "corrupt: call site " + std::to_string(site) + " out of range");
    }
    icount_ += delta;
    e->icount = icount_;
    e->site = static_cast<uint32_t>(site);
    if (has_address(e->kind) && !get_uleb(&e->addr, err, "address")) {
        return false;
    }
    if (e->kind == Kind::Disk) {
        if (!get_u8(&e->size, err, "transfer type")) {
            return false;
        }
        if (e->size >= kDiskTransferTypes) {
            return fail(err, start, "corrupt: disk transfer type " + std::to_string(e->size));
        }
    } else if (e->kind == Kind::Packet) {
        if (!get_u8(&e->size, err, "packet direction")) {
            return false;
        }
        if (e->size > static_cast<uint8_t>(PacketDirection::Sent)) {
            return fail(err, start, "corrupt: packet direction " + std::to_string(e->size));
        }
    } else if (has_size(e->kind)) {
        if (!get_u8(&e->size, err, "access size")) {
            return false;
        }
        if (e->size != 1 && e->size != 2 && e->size != 4 && e->size != 8) {
            return fail(err, start, "corrupt: access size " + std::to_string(e->size));
        }
    }
    if (has_value(e->kind) && !get_uleb(&e->value, err, "value")) {
        return false;
    }
    if (has_length(e->kind) && !get_uleb(&e->length, err, "length")) {
        return false;
    }
    if (has_data(e->kind)) {
        const bool dma = e->kind == Kind::DmaWrite;
        uint64_t len = 0;
        if (!get_uleb(&len, err, dma ? "DMA length" : "packet length")) {
            return false;
        }
        if (len > max_data(e->kind)) {
            return fail(err, start, std::string("corrupt: ") + (dma ? "DMA" : "packet") + " length " +
                                        std::to_string(len) + " over the limit");
        }
        if (len > size_ - pos_) {
            return fail(err, start, std::string("truncated: ") + (dma ? "DMA" : "packet") + " data of " +
                                        std::to_string(len) + " bytes ends with the file");
        }
        if (in_place_) {
            in_place_data_ = data_ + pos_;
            in_place_size_ = len;
        } else {
            e->data.assign(data_ + pos_, data_ + pos_ + len);
        }
        pos_ += len;
    }
    if (e->kind == Kind::End) {
        if (e->value != entries_) {
            return fail(err, start, "corrupt: the end entry counts " + std::to_string(e->value) + " entries, the log has " +
                                        std::to_string(entries_));
        }
        if (pos_ != size_) {
            return fail(err, pos_, "corrupt: " + std::to_string(size_ - pos_) + " bytes after the end entry");
        }
        done_ = true;
        return true;
    }
    entries_++;
    return true;
}

bool read_log(const uint8_t* data, size_t size, const std::string& name, uint32_t arch, LogStats* stats,
              std::vector<Event>* events, std::string* err) {
    LogReader reader;
    if (!reader.open(data, size, name, arch, err)) {
        return false;
    }
    *stats = LogStats();
    if (events != nullptr) {
        events->reserve(events->size() + size / 16);  // a guess: entries take 3 bytes or more, most about 20
    }
    Event e;
    while (reader.next(&e, err)) {
        const Kind kind = e.kind;
        const uint64_t data_bytes = e.data.size();
        if (kind == Kind::End) {
            stats->last_icount = e.icount;
        } else {
            stats->entries++;
            stats->per_kind[static_cast<uint8_t>(kind)]++;
            if (kind == Kind::DmaWrite) {
                stats->dma_bytes += data_bytes;
            } else if (kind == Kind::Packet) {
                stats->packet_bytes += data_bytes;
            }
        }
        if (events != nullptr) {
            events->push_back(std::move(e));  // next() starts from a fresh entry
        }
        if (kind == Kind::End) {
            return true;
        }
    }
    return false;
}

}  // namespace hypanda::rr
