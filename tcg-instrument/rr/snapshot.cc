// The start snapshot's writer (zstd, io_uring) and reader (snapshot.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "snapshot.h"


#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "files.h"

namespace hypanda::rr {
namespace {

constexpr unsigned kInFlight = 4;  // write buffers the ring keeps busy
constexpr int kZstdLevel = 1;      // fast: recording start is on the guest's clock
constexpr size_t kChunkHeaderBytes = 16;

void put_le(std::vector<uint8_t>* out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) {
        out->push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}

uint64_t get_le(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= static_cast<uint64_t>(p[i]) << (8 * i);
    }
    return v;
}

}  // namespace

// ---- writer ----

struct SnapshotWriter::Impl {
    int fd = -1;
    io_uring ring{};
    bool ring_ok = false;
    ZSTD_CCtx* zstd = nullptr;
    XXH64_state_t* hash = nullptr;
    std::vector<uint8_t> buffers[kInFlight];
    bool busy[kInFlight] = {};
    unsigned in_flight = 0;
    unsigned next = 0;
};

SnapshotWriter::SnapshotWriter() : impl_(new Impl) {}

SnapshotWriter::~SnapshotWriter() {
    std::string ignored;
    if (impl_->fd >= 0) {
        finish(&ignored);
    }
    if (impl_->zstd != nullptr) {
        ZSTD_freeCCtx(impl_->zstd);
    }
    if (impl_->hash != nullptr) {
        XXH64_freeState(impl_->hash);
    }
}

bool SnapshotWriter::open(int dir, const std::string& name, const std::string& path, uint32_t arch,
                          uint64_t ram_bytes, const std::vector<uint8_t>& cpu_state, std::string* err) {
    path_ = path;
    ram_bytes_ = ram_bytes;
    if (cpu_state.size() > kMaxCpuStateBytes) {
        *err = path + ": CPU state of " + std::to_string(cpu_state.size()) + " bytes is over the limit";
        return false;
    }
    impl_->fd = create_file_at(dir, name, path, err).release();
    if (impl_->fd < 0) {
        return false;
    }
    int r = io_uring_queue_init(kInFlight, &impl_->ring, 0);
    if (r < 0) {
        *err = path + ": io_uring unavailable: " + std::strerror(-r);
        ::close(impl_->fd);
        impl_->fd = -1;
        return false;
    }
    impl_->ring_ok = true;
    impl_->zstd = ZSTD_createCCtx();
    impl_->hash = XXH64_createState();
    XXH64_reset(impl_->hash, 0);
    std::vector<uint8_t> header(kSnapshotMagic, kSnapshotMagic + sizeof kSnapshotMagic);
    put_le(&header, kSnapshotVersion, 4);
    put_le(&header, arch, 4);
    put_le(&header, ram_bytes, 8);
    put_le(&header, cpu_state.size(), 4);
    put_le(&header, kSnapshotChunkBytes, 4);
    header.insert(header.end(), cpu_state.begin(), cpu_state.end());
    emit(header.data(), header.size());
    return error_.empty();
}

// Waits for one write to complete and frees its buffer.
static bool reap(io_uring* ring, std::vector<uint8_t>* buffers, bool* busy, unsigned* in_flight,
                 std::string* error, const std::string& path) {
    io_uring_cqe* cqe = nullptr;
    int r = io_uring_wait_cqe(ring, &cqe);
    if (r < 0) {
        *error = path + ": waiting for a write failed: " + std::strerror(-r);
        return false;
    }
    const unsigned slot = static_cast<unsigned>(io_uring_cqe_get_data64(cqe));
    const int res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    busy[slot] = false;
    (*in_flight)--;
    if (res < 0 && error->empty()) {
        *error = path + ": write failed: " + std::strerror(-res);
    } else if (static_cast<size_t>(res) != buffers[slot].size() && error->empty()) {
        *error = path + ": short write (" + std::to_string(res) + " of " + std::to_string(buffers[slot].size()) +
                 " bytes; disk full?)";
    }
    return true;
}

void SnapshotWriter::emit(const uint8_t* data, size_t n) {
    if (!error_.empty()) {
        return;
    }
    while (impl_->in_flight == kInFlight) {
        if (!reap(&impl_->ring, impl_->buffers, impl_->busy, &impl_->in_flight, &error_, path_)) {
            return;
        }
    }
    unsigned slot = impl_->next;
    while (impl_->busy[slot]) {
        slot = (slot + 1) % kInFlight;
    }
    impl_->next = (slot + 1) % kInFlight;
    std::vector<uint8_t>& buf = impl_->buffers[slot];
    buf.assign(data, data + n);
    XXH64_update(impl_->hash, data, n);
    io_uring_sqe* sqe = io_uring_get_sqe(&impl_->ring);
    io_uring_prep_write(sqe, impl_->fd, buf.data(), static_cast<unsigned>(buf.size()), offset_);
    io_uring_sqe_set_data64(sqe, slot);
    int r = io_uring_submit(&impl_->ring);
    if (r < 0) {
        error_ = path_ + ": submitting a write failed: " + std::strerror(-r);
        return;
    }
    impl_->busy[slot] = true;
    impl_->in_flight++;
    offset_ += n;
}

void SnapshotWriter::flush_chunk() {
    const size_t bound = ZSTD_compressBound(chunk_.size());
    std::vector<uint8_t> out;
    out.reserve(kChunkHeaderBytes + bound);
    put_le(&out, chunk_.size(), 4);
    put_le(&out, 0, 4);  // compressed size, below
    put_le(&out, XXH64(chunk_.data(), chunk_.size(), 0), 8);
    out.resize(kChunkHeaderBytes + bound);
    const size_t z = ZSTD_compressCCtx(impl_->zstd, out.data() + kChunkHeaderBytes, bound, chunk_.data(),
                                       chunk_.size(), kZstdLevel);
    if (ZSTD_isError(z)) {
        if (error_.empty()) {
            error_ = path_ + ": compression failed: " + ZSTD_getErrorName(z);
        }
        return;
    }
    out.resize(kChunkHeaderBytes + z);
    for (int i = 0; i < 4; i++) {
        out[4 + i] = static_cast<uint8_t>(z >> (8 * i));
    }
    emit(out.data(), out.size());
    chunk_.clear();
}

void SnapshotWriter::write_ram(const uint8_t* data, size_t n) {
    if (ram_seen_ + n > ram_bytes_) {
        if (error_.empty()) {
            error_ = path_ + ": more RAM written than the " + std::to_string(ram_bytes_) + " bytes announced";
        }
        return;
    }
    ram_seen_ += n;
    while (n > 0) {
        const size_t take = std::min<size_t>(n, kSnapshotChunkBytes - chunk_.size());
        chunk_.insert(chunk_.end(), data, data + take);
        data += take;
        n -= take;
        if (chunk_.size() == kSnapshotChunkBytes) {
            flush_chunk();
        }
    }
}

bool SnapshotWriter::finish(std::string* err) {
    if (impl_->fd < 0) {
        *err = error_.empty() ? path_ + ": not open" : error_;
        return false;
    }
    if (!chunk_.empty()) {
        flush_chunk();
    }
    if (ram_seen_ != ram_bytes_ && error_.empty()) {
        error_ = path_ + ": " + std::to_string(ram_seen_) + " bytes of RAM written, " + std::to_string(ram_bytes_) +
                 " announced";
    }
    emit(reinterpret_cast<const uint8_t*>(kSnapshotTrailer), sizeof kSnapshotTrailer);
    while (impl_->in_flight > 0) {
        if (!reap(&impl_->ring, impl_->buffers, impl_->busy, &impl_->in_flight, &error_, path_)) {
            break;
        }
    }
    if (impl_->ring_ok) {
        io_uring_queue_exit(&impl_->ring);
        impl_->ring_ok = false;
    }
    if (::close(impl_->fd) != 0 && error_.empty()) {
        error_ = path_ + ": close failed: " + std::strerror(errno);
    }
    impl_->fd = -1;
    xxh64_ = XXH64_digest(impl_->hash);
    if (!error_.empty()) {
        *err = error_;
        return false;
    }
    return true;
}

// ---- reader ----

bool SnapshotReader::fail(std::string* err, size_t at, const std::string& what) {
    *err = name_ + ": " + what + " at byte " + std::to_string(at);
    return false;
}

bool SnapshotReader::open(const uint8_t* data, size_t size, const std::string& name, uint32_t arch,
                          std::string* err) {
    data_ = data;
    size_ = size;
    name_ = name;
    if (size < kSnapshotHeaderBytes) {
        *err = name + ": truncated: " + std::to_string(size) + " bytes, shorter than the " +
               std::to_string(kSnapshotHeaderBytes) + "-byte header";
        return false;
    }
    if (std::memcmp(data, kSnapshotMagic, sizeof kSnapshotMagic) != 0) {
        *err = name + ": not a Hypanda snapshot (no HYPNSNAP magic)";
        return false;
    }
    const uint32_t version = static_cast<uint32_t>(get_le(data + 8, 4));
    if (version != kSnapshotVersion) {
        *err = name + ": format version " + std::to_string(version) + " is not supported (this build reads version " +
               std::to_string(kSnapshotVersion) + ")";
        return false;
    }
    const uint32_t file_arch = static_cast<uint32_t>(get_le(data + 12, 4));
    if (file_arch != arch) {
        *err = name + ": taken on architecture " + std::to_string(file_arch) + " (ELF machine), not " +
               std::to_string(arch);
        return false;
    }
    ram_bytes_ = get_le(data + 16, 8);
    const uint32_t cpu_bytes = static_cast<uint32_t>(get_le(data + 24, 4));
    chunk_bytes_ = static_cast<uint32_t>(get_le(data + 28, 4));
    if (chunk_bytes_ < 4096 || chunk_bytes_ > (64u << 20)) {
        return fail(err, 28, "corrupt: chunk size " + std::to_string(chunk_bytes_));
    }
    if (cpu_bytes > kMaxCpuStateBytes) {
        return fail(err, 24, "corrupt: CPU state of " + std::to_string(cpu_bytes) + " bytes");
    }
    pos_ = kSnapshotHeaderBytes;
    if (cpu_bytes > size_ - pos_) {
        return fail(err, pos_, "truncated: the CPU state ends with the file");
    }
    cpu_state_.assign(data_ + pos_, data_ + pos_ + cpu_bytes);
    pos_ += cpu_bytes;
    /* Every chunk takes at least its header and a byte: a RAM size the
     * file cannot hold is refused before anyone allocates for it. */
    const uint64_t chunks = ram_bytes_ / chunk_bytes_ + (ram_bytes_ % chunk_bytes_ != 0);
    if (chunks > (size_ - pos_) / (kChunkHeaderBytes + 1)) {
        return fail(err, 16, "truncated: too short for " + std::to_string(ram_bytes_) + " bytes of RAM");
    }
    return true;
}

bool SnapshotReader::read_ram(uint8_t* ram, std::string* err) {
    return read_ram([ram](uint64_t offset, const uint8_t* bytes, size_t n) { std::memcpy(ram + offset, bytes, n); },
                    err);
}

bool SnapshotReader::read_ram(const std::function<void(uint64_t, const uint8_t*, size_t)>& sink, std::string* err) {
    ZSTD_DCtx* z = ZSTD_createDCtx();
    std::vector<uint8_t> chunk(std::min<uint64_t>(chunk_bytes_, ram_bytes_));
    uint8_t* const buf = chunk.data();
    uint64_t done = 0;
    bool ok = true;
    while (ok && done < ram_bytes_) {
        const size_t start = pos_;
        const uint64_t want = std::min<uint64_t>(chunk_bytes_, ram_bytes_ - done);
        if (kChunkHeaderBytes > size_ - pos_) {
            ok = fail(err, start, "truncated: a RAM chunk's header ends with the file");
            break;
        }
        const uint64_t raw = get_le(data_ + pos_, 4);
        const uint64_t packed = get_le(data_ + pos_ + 4, 4);
        const uint64_t sum = get_le(data_ + pos_ + 8, 8);
        pos_ += kChunkHeaderBytes;
        if (raw != want) {
            ok = fail(err, start, "corrupt: a RAM chunk of " + std::to_string(raw) + " bytes where " +
                                      std::to_string(want) + " are due");
        } else if (packed > size_ - pos_) {
            ok = fail(err, start, "truncated: a RAM chunk's data ends with the file");
        } else {
            const size_t got = ZSTD_decompressDCtx(z, buf, want, data_ + pos_, packed);
            if (ZSTD_isError(got)) {
                ok = fail(err, start, std::string("corrupt: a RAM chunk does not decompress (") +
                                          ZSTD_getErrorName(got) + ")");
            } else if (got != want) {
                ok = fail(err, start, "corrupt: a RAM chunk decompresses to " + std::to_string(got) + " bytes");
            } else if (XXH64(buf, want, 0) != sum) {
                ok = fail(err, start, "corrupt: a RAM chunk's checksum does not match");
            } else {
                sink(done, buf, want);
            }
            pos_ += packed;
            done += want;
        }
    }
    ZSTD_freeDCtx(z);
    if (!ok) {
        return false;
    }
    if (sizeof kSnapshotTrailer > size_ - pos_ ||
        std::memcmp(data_ + pos_, kSnapshotTrailer, sizeof kSnapshotTrailer) != 0) {
        return fail(err, pos_, sizeof kSnapshotTrailer > size_ - pos_ ? "truncated: no trailer after RAM"
                                                                      : "corrupt: no trailer after RAM");
    }
    pos_ += sizeof kSnapshotTrailer;
    if (pos_ != size_) {
        return fail(err, pos_, "corrupt: " + std::to_string(size_ - pos_) + " bytes after the trailer");
    }
    return true;
}

}  // namespace hypanda::rr
