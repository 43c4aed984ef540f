// The C interface the emulator's glue uses (engine.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "recording.h"

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
    rr::SnapshotWriter snapshot;
    rr::LogWriter log;
    uint64_t ram_bytes = 0;  // the first block's
};

struct HypandaRrReplay {
    rr::Recording recording;
    std::vector<HypandaRrBlock> blocks;
    std::vector<HypandaRrEvent> events;
};

const char* hypanda_rr_kind_name(uint8_t kind) {
    const char* name = rr::kind_name(kind);
    return name != nullptr ? name : "unknown";
}

HypandaRrRecorder* hypanda_rr_recorder_open(const char* dir, const HypandaRrBlock* blocks, size_t n_blocks,
                                            const void* cpu_state, size_t cpu_state_len, char** err) {
    if (mkdir(dir, 0777) != 0) {
        set_error(err, std::string(dir) + ": cannot create the recording's folder: " + std::strerror(errno));
        return nullptr;
    }
    auto r = std::make_unique<HypandaRrRecorder>();
    r->dir = dir;
    rr::MachineState machine;
    uint64_t total = 0;
    for (size_t i = 0; i < n_blocks; i++) {
        machine.blocks.push_back({blocks[i].name, blocks[i].bytes});
        total += blocks[i].bytes;
    }
    r->ram_bytes = n_blocks > 0 ? blocks[0].bytes : 0;
    const auto* cpu = static_cast<const uint8_t*>(cpu_state);
    machine.cpu.assign(cpu, cpu + cpu_state_len);
    std::string e;
    if (!r->snapshot.open(r->dir + "/" + rr::kSnapshotFile, rr::kArchX86_64, total, rr::machine_state_bytes(machine),
                          &e)) {
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
    if (!r->snapshot.finish(&e) || !r->log.open(r->dir + "/" + rr::kLogFile, rr::kArchX86_64, &e)) {
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
    if (!rr::read_file(r->dir + "/" + rr::kSnapshotFile, rr::kSnapshotFile, &bytes, &e)) {
        set_error(err, e);
        return false;
    }
    m.snapshot = {rr::kSnapshotFile, bytes.size(), rr::xxh64(bytes.data(), bytes.size())};
    if (!rr::read_file(r->dir + "/" + rr::kLogFile, rr::kLogFile, &bytes, &e)) {
        set_error(err, e);
        return false;
    }
    m.log = {rr::kLogFile, bytes.size(), rr::xxh64(bytes.data(), bytes.size())};
    const std::string path = r->dir + "/" + rr::kManifestFile;
    const std::string text = rr::manifest_to_json(m);
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0) {
        set_error(err, path + ": cannot write: " + std::strerror(errno));
        return false;
    }
    return true;
}

HypandaRrReplay* hypanda_rr_replay_open(const char* dir, char** err) {
    auto r = std::make_unique<HypandaRrReplay>();
    std::string e;
    if (!rr::load_recording(dir, &r->recording, &e)) {
        set_error(err, e);
        return nullptr;
    }
    for (const rr::RamBlock& b : r->recording.machine.blocks) {
        r->blocks.push_back({b.name.c_str(), b.bytes});
    }
    for (const rr::Event& ev : r->recording.events) {
        HypandaRrEvent c = {};
        c.icount = ev.icount;
        c.addr = ev.addr;
        c.value = ev.value;
        c.data = ev.data.data();
        c.data_len = ev.data.size();
        c.site = ev.site;
        c.kind = static_cast<uint8_t>(ev.kind);
        c.size = ev.size;
        r->events.push_back(c);
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

size_t hypanda_rr_replay_events(const HypandaRrReplay* r, const HypandaRrEvent** events) {
    *events = r->events.data();
    return r->events.size();
}

uint64_t hypanda_rr_replay_instructions(const HypandaRrReplay* r) { return r->recording.manifest.instructions; }

uint64_t hypanda_rr_replay_ram_xxh64(const HypandaRrReplay* r) { return r->recording.manifest.ram_xxh64; }

namespace {

// Options kept from the recorded command line: they make the machine (its
// RAM blocks must be the recording's) and need nothing from the host.
// Everything else is left out, as are devices that name a back-end.
bool keeps(const std::string& option) {
    static const char* const kept[] = {"machine", "M", "cpu", "m", "smp", "global", "vga", "bios", "L",
                                       "object", "numa", "device", "net", "nic", "rtc", "name", "boot"};
    for (const char* k : kept) {
        if (option == k) {
            return true;
        }
    }
    return false;
}

// QEMU options without a value (those a recorded command line may hold).
bool is_flag(const std::string& option) {
    static const char* const flags[] = {"nodefaults", "no-hpet", "S", "nographic", "enable-kvm", "no-reboot",
                                        "no-shutdown", "daemonize", "usb", "snapshot", "s", "no-acpi",
                                        "no-user-config", "nodefconfig", "full-screen", "no-fd-bootchk",
                                        "win2k-hack", "no-quit", "preconfig", "only-migratable", "enable-sync-profile"};
    for (const char* f : flags) {
        if (option == f) {
            return true;
        }
    }
    return false;
}

bool names_backend(const std::string& value) {
    for (const char* key : {"drive=", "netdev=", "chardev=", "audiodev=", "fsdev="}) {
        if (value.find(key) != std::string::npos) {
            return true;
        }
    }
    return false;
}

// "-machine pc,accel=kvm" would clash with replay's -accel tcg.
std::string without_accel(const std::string& machine) {
    std::string out;
    size_t start = 0;
    while (start <= machine.size()) {
        size_t comma = machine.find(',', start);
        if (comma == std::string::npos) {
            comma = machine.size();
        }
        const std::string part = machine.substr(start, comma - start);
        if (part.rfind("accel=", 0) != 0) {
            out += (out.empty() ? "" : ",") + part;
        }
        start = comma + 1;
    }
    return out;
}

}  // namespace

char** hypanda_rr_replay_machine_args(const char* dir, int* argc, char** err) {
    std::vector<uint8_t> bytes;
    rr::Manifest m;
    std::string e;
    if (!rr::read_file(std::string(dir) + "/" + rr::kManifestFile, rr::kManifestFile, &bytes, &e) ||
        !rr::manifest_from_json(std::string(bytes.begin(), bytes.end()), "x86_64", &m, &e)) {
        set_error(err, e);
        return nullptr;
    }
    std::vector<std::string> out;
    const auto& line = m.command_line;
    for (size_t i = 1; i < line.size(); i++) {
        if (line[i].size() < 2 || line[i][0] != '-') {
            continue;  // a stray word (QEMU takes a lone word as a disk image)
        }
        std::string option = line[i].substr(line[i][1] == '-' ? 2 : 1);
        if (is_flag(option)) {
            if (option == "nodefaults" || option == "no-hpet" || option == "no-acpi" || option == "usb") {
                out.push_back(line[i]);
            }
            continue;
        }
        if (i + 1 >= line.size()) {
            break;
        }
        const std::string& value = line[++i];
        if (!keeps(option) || (option == "device" && names_backend(value)) ||
            ((option == "net" || option == "nic") && value != "none")) {
            continue;
        }
        out.push_back("-" + option);
        out.push_back(option == "machine" || option == "M" ? without_accel(value) : value);
    }
    for (const char* extra : {"-accel", "tcg", "-display", "none", "-serial", "none", "-monitor", "none"}) {
        out.push_back(extra);
    }
    char** args = static_cast<char**>(calloc(out.size() + 1, sizeof(char*)));
    for (size_t i = 0; i < out.size(); i++) {
        args[i] = strdup(out[i].c_str());
    }
    *argc = static_cast<int>(out.size());
    return args;
}
