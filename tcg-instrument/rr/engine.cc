// The C interface the emulator's glue uses (engine.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "files.h"
#include "recording.h"
#include "replay_args.h"
#include "result.h"

namespace rr = hypanda::rr;

namespace {

void set_error(char** err, const std::string& what) {
    if (err != nullptr) {
        *err = strdup(what.c_str());
    }
}

}  // namespace

struct HypandaRrRecorder {
    std::string dir;
    rr::ScopedFd folder;
    rr::SnapshotWriter snapshot;
    rr::LogWriter log;
    uint64_t ram_bytes = 0;  // the first block's
};

struct HypandaRrReplay {
    rr::Recording recording;
    std::vector<HypandaRrBlock> blocks;
    std::vector<HypandaRrEvent> events;
};

static_assert(HYPANDA_RR_END == static_cast<int>(rr::Kind::End) &&
              HYPANDA_RR_DMA_READ == static_cast<int>(rr::Kind::DmaRead) &&
              HYPANDA_RR_DISK == static_cast<int>(rr::Kind::Disk) &&
              HYPANDA_RR_PACKET == static_cast<int>(rr::Kind::Packet));
static_assert(HYPANDA_RR_RAM_TO_HD == static_cast<int>(rr::DiskTransfer::RamToHd) &&
              HYPANDA_RR_PACKET_SENT == static_cast<int>(rr::PacketDirection::Sent));
static_assert(HYPANDA_RR_MAX_PACKET == rr::kMaxPacketBytes);

const char* hypanda_rr_kind_name(uint8_t kind) {
    const char* name = rr::kind_name(kind);
    return name != nullptr ? name : "unknown";
}

HypandaRrRecorder* hypanda_rr_recorder_open(const char* dir, const HypandaRrBlock* blocks, size_t n_blocks,
                                            const void* cpu_state, size_t cpu_state_len, char** err) {
    auto r = std::make_unique<HypandaRrRecorder>();
    r->dir = dir;
    std::string e;
    r->folder = rr::make_folder(dir, &e);
    if (!r->folder.ok()) {
        set_error(err, e);
        return nullptr;
    }
    rr::MachineState machine;
    uint64_t total = 0;
    for (size_t i = 0; i < n_blocks; i++) {
        machine.blocks.push_back({blocks[i].name, blocks[i].bytes});
        total += blocks[i].bytes;
    }
    r->ram_bytes = n_blocks > 0 ? blocks[0].bytes : 0;
    const auto* cpu = static_cast<const uint8_t*>(cpu_state);
    machine.cpu.assign(cpu, cpu + cpu_state_len);
    if (!r->snapshot.open(r->folder.get(), rr::kSnapshotFile, r->dir + "/" + rr::kSnapshotFile, rr::kArchX86_64,
                          total, rr::machine_state_bytes(machine), &e)) {
        set_error(err, e);
        return nullptr;
    }
    return r.release();
}

void hypanda_rr_recorder_ram(HypandaRrRecorder* r, const void* data, size_t n) {
    r->snapshot.write_ram(static_cast<const uint8_t*>(data), n);
}

bool hypanda_rr_recorder_start_log(HypandaRrRecorder* r, char** err) {
    std::string e;
    if (!r->snapshot.finish(&e) || !r->log.open(r->folder.get(), rr::kLogFile, r->dir + "/" + rr::kLogFile, rr::kArchX86_64, &e)) {
        set_error(err, e);
        return false;
    }
    return true;
}

void hypanda_rr_recorder_event(HypandaRrRecorder* r, const HypandaRrEvent* e) {
    rr::Event event;
    event.icount = e->icount;
    event.kind = static_cast<rr::Kind>(e->kind);
    event.site = e->site;
    event.addr = e->addr;
    event.size = e->size;
    event.value = e->value;
    event.length = e->length;
    if (e->data_len != 0) {
        event.data.assign(e->data, e->data + e->data_len);
    }
    r->log.append(event);
}

uint64_t hypanda_rr_recorder_entries(const HypandaRrRecorder* r) { return r->log.entries(); }

void hypanda_rr_recorder_discard(HypandaRrRecorder* r) { delete r; }

bool hypanda_rr_recorder_finish(HypandaRrRecorder* r, uint64_t instructions, uint64_t ram_xxh64,
                                const char* cpu_model, int argc, const char* const* argv, uint64_t* log_bytes,
                                char** err) {
    std::unique_ptr<HypandaRrRecorder> owned(r);
    std::string e;
    if (!r->log.finish(instructions, &e)) {
        set_error(err, e);
        return false;
    }
    *log_bytes = r->log.bytes();
    rr::Manifest m;
    m.ram_bytes = r->ram_bytes;
    m.instructions = instructions;
    m.ram_xxh64 = ram_xxh64;
    m.cpu_model = cpu_model;
    m.command_line.assign(argv, argv + argc);
    std::vector<uint8_t> bytes;
    if (!rr::read_file_at(r->folder.get(), rr::kSnapshotFile, &bytes, &e)) {
        set_error(err, e);
        return false;
    }
    m.snapshot = {rr::kSnapshotFile, bytes.size(), rr::xxh64(bytes.data(), bytes.size())};
    if (!rr::read_file_at(r->folder.get(), rr::kLogFile, &bytes, &e)) {
        set_error(err, e);
        return false;
    }
    m.log = {rr::kLogFile, bytes.size(), rr::xxh64(bytes.data(), bytes.size())};
    const std::string path = r->dir + "/" + rr::kManifestFile;
    const std::string text = rr::manifest_to_json(m);
    rr::ScopedFd out = rr::create_file_at(r->folder.get(), rr::kManifestFile, path, &e);
    if (!out.ok()) {
        set_error(err, e);
        return false;
    }
    std::FILE* f = fdopen(out.release(), "w");
    if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0) {
        set_error(err, path + ": cannot write: " + std::strerror(errno));
        return false;
    }
    return true;
}

HypandaRrReplay* hypanda_rr_replay_open(const char* dir, char** err) {
    auto r = std::make_unique<HypandaRrReplay>();
    std::string e;
    if (!rr::load_recording(dir, &r->recording, &e, rr::LogEntries::Checked)) {
        set_error(err, e);
        return nullptr;
    }
    for (const rr::RamBlock& b : r->recording.machine.blocks) {
        r->blocks.push_back({b.name.c_str(), b.bytes});
    }
    // The log was checked to its end: read again, straight into the
    // engine's entries, whose bytes stay in the log file's memory.
    const std::vector<uint8_t>& log = r->recording.log_file;
    rr::LogReader reader;
    reader.set_in_place(true);
    if (!reader.open(log.data(), log.size(), r->recording.manifest.log.name, rr::kArchX86_64, &e)) {
        set_error(err, e);
        return nullptr;
    }
    r->events.reserve(r->recording.stats.entries + 1);
    rr::Event ev;
    while (reader.next(&ev, &e)) {
        HypandaRrEvent c = {};
        c.icount = ev.icount;
        c.addr = ev.addr;
        c.value = ev.value;
        if (ev.kind == rr::Kind::DmaWrite || ev.kind == rr::Kind::Packet) {
            c.data = reader.in_place_data();
            c.data_len = reader.in_place_size();
        }
        c.length = ev.length;
        c.site = ev.site;
        c.kind = static_cast<uint8_t>(ev.kind);
        c.size = ev.size;
        r->events.push_back(c);
        if (ev.kind == rr::Kind::End) {
            break;
        }
    }
    if (!e.empty()) {
        set_error(err, e);
        return nullptr;
    }
    return r.release();
}

void hypanda_rr_replay_close(HypandaRrReplay* r) { delete r; }

size_t hypanda_rr_replay_blocks(const HypandaRrReplay* r, const HypandaRrBlock** blocks) {
    *blocks = r->blocks.data();
    return r->blocks.size();
}

const uint8_t* hypanda_rr_replay_cpu_state(const HypandaRrReplay* r, size_t* len) {
    *len = r->recording.machine.cpu.size();
    return r->recording.machine.cpu.data();
}

bool hypanda_rr_replay_read_ram(HypandaRrReplay* r, uint8_t* dst, char** err) {
    std::string e;
    if (!r->recording.snapshot.read_ram(dst, &e)) {
        set_error(err, e);
        return false;
    }
    return true;
}

bool hypanda_rr_replay_read_ram_blocks(HypandaRrReplay* r, uint8_t* const* dst, const uint64_t* bytes, size_t n,
                                       char** err) {
    // Block i starts at starts[i] in the snapshot's RAM.
    std::vector<uint64_t> starts(n + 1, 0);
    for (size_t i = 0; i < n; i++) {
        starts[i + 1] = starts[i] + bytes[i];
    }
    size_t block = 0;
    auto sink = [&](uint64_t offset, const uint8_t* data, size_t len) {
        while (len > 0) {
            while (block < n && offset >= starts[block + 1]) {
                block++;
            }
            if (block == n) {
                return;  // more RAM than the blocks: the caller checked the sizes
            }
            const uint64_t in_block = offset - starts[block];
            const size_t piece = static_cast<size_t>(std::min<uint64_t>(len, bytes[block] - in_block));
            uint8_t* to = dst[block] + in_block;
            // Page by page, only what differs: RAM the machine has not
            // touched reads as zero without being made, and most of a
            // snapshot is zero pages.
            for (size_t k = 0; k < piece; k += 4096) {
                const size_t m = std::min<size_t>(4096, piece - k);
                if (std::memcmp(to + k, data + k, m) != 0) {
                    std::memcpy(to + k, data + k, m);
                }
            }
            offset += piece;
            data += piece;
            len -= piece;
        }
    };
    std::string e;
    if (!r->recording.snapshot.read_ram(sink, &e)) {
        set_error(err, e);
        return false;
    }
    return true;
}

size_t hypanda_rr_replay_events(const HypandaRrReplay* r, const HypandaRrEvent** events) {
    *events = r->events.data();
    return r->events.size();
}

uint64_t hypanda_rr_replay_instructions(const HypandaRrReplay* r) { return r->recording.manifest.instructions; }

uint64_t hypanda_rr_replay_ram_xxh64(const HypandaRrReplay* r) { return r->recording.manifest.ram_xxh64; }

bool hypanda_rr_write_result(const char* path, const char* recording, bool verified, uint64_t instructions,
                             uint64_t recorded, const char* error, char** err) {
    rr::ReplayResult r;
    r.recording = recording != nullptr ? recording : "";
    r.verified = verified;
    r.instructions = instructions;
    r.recorded = recorded;
    r.error = error != nullptr ? error : "";
    std::string e;
    if (!rr::write_replay_result(path, r, &e)) {
        set_error(err, e);
        return false;
    }
    return true;
}

char** hypanda_rr_replay_machine_args(const char* dir, int* argc, char** err) {
    std::vector<uint8_t> bytes;
    rr::Manifest m;
    std::string e;
    const rr::ScopedFd folder = rr::open_folder(dir, &e);
    if (!folder.ok() || !rr::read_file_at(folder.get(), rr::kManifestFile, &bytes, &e) ||
        !rr::manifest_from_json(std::string(bytes.begin(), bytes.end()), "x86_64", &m, &e)) {
        set_error(err, e);
        return nullptr;
    }
    std::vector<std::string> out;
    if (!rr::replay_machine_args(m.command_line, &out, &e)) {
        set_error(err, e);
        return nullptr;
    }
    char** args = static_cast<char**>(calloc(out.size() + 1, sizeof(char*)));
    for (size_t i = 0; i < out.size(); i++) {
        args[i] = strdup(out[i].c_str());
    }
    *argc = static_cast<int>(out.size());
    return args;
}
