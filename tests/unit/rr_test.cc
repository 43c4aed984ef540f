// The recording format (tcg-instrument/rr): the nondet log round-trips every
// kind of entry exactly; every truncation, and the corruptions a reader must
// catch, give one line naming the file, the place and the problem; the
// manifest round-trips and refuses what is wrong with it.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "log.h"
#include "manifest.h"
#include "replay_args.h"
#include "result.h"
#include "run.h"
#include "snapshot.h"

namespace hypanda::rr {
namespace {

std::vector<Event> sample_events() {
    std::vector<Event> v;
    Event e;
    e.icount = 5, e.kind = Kind::PortRead, e.site = 1, e.addr = 0x3fd, e.size = 1, e.value = 0x60;
    v.push_back(e);
    e = Event();
    e.icount = 5, e.kind = Kind::MmioRead, e.site = 2, e.addr = 0xfee00030, e.size = 4, e.value = 0x50014;
    v.push_back(e);
    e = Event();
    e.icount = 1000, e.kind = Kind::DmaWrite, e.site = 3, e.addr = 0x7000, e.data = {1, 2, 3, 0xff};
    v.push_back(e);
    e = Event();
    e.icount = 123456789012ull, e.kind = Kind::Interrupt, e.site = 4, e.value = 2, e.addr = 0x21;
    v.push_back(e);
    e = Event();
    e.icount = 123456789013ull, e.kind = Kind::Rdtsc, e.site = 5, e.value = UINT64_MAX;
    v.push_back(e);
    e = Event();
    e.icount = 123456789013ull, e.kind = Kind::Rdrand, e.site = 6, e.value = 0x0123456789abcdefull;
    v.push_back(e);
    e = Event();
    e.icount = 123456789020ull, e.kind = Kind::Rdseed, e.site = 70000, e.value = 7;
    v.push_back(e);
    e = Event();
    e.icount = 123456789020ull, e.kind = Kind::ExitRequest, e.site = 8;
    v.push_back(e);
    e = Event();
    e.icount = 123456789021ull, e.kind = Kind::DmaRead, e.site = 8, e.addr = 0x12345000, e.length = 4096;
    v.push_back(e);
    e = Event();
    e.icount = 123456789021ull, e.kind = Kind::Disk, e.site = 8, e.size = static_cast<uint8_t>(DiskTransfer::HdToRam),
    e.addr = 0x7000, e.value = 1ull << 40, e.length = 512;
    v.push_back(e);
    e = Event();
    e.icount = 123456789030ull, e.kind = Kind::Packet, e.site = 8,
    e.size = static_cast<uint8_t>(PacketDirection::Sent), e.addr = 0, e.data = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 8, 6};
    v.push_back(e);
    return v;
}

std::vector<uint8_t> write_log(const std::vector<Event>& events, uint64_t last_icount) {
    test::TempDir dir;
    LogWriter w;
    std::string err;
    EXPECT_TRUE(w.open(dir.file("log"), kArchX86_64, &err)) << err;
    for (const Event& e : events) {
        w.append(e);
    }
    EXPECT_TRUE(w.finish(last_icount, &err)) << err;
    EXPECT_EQ(w.entries(), events.size());
    std::ifstream in(dir.file("log"), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.size(), w.bytes());
    return bytes;
}

// Reads a whole log; the entries before End, and the error (empty if it
// ended cleanly).
std::string read_all(const std::vector<uint8_t>& bytes, std::vector<Event>* out, uint64_t* end_icount = nullptr) {
    LogReader r;
    std::string err;
    if (!r.open(bytes.data(), bytes.size(), "nondet.log", kArchX86_64, &err)) {
        return err;
    }
    Event e;
    while (r.next(&e, &err)) {
        if (e.kind == Kind::End) {
            if (end_icount != nullptr) {
                *end_icount = e.icount;
            }
            EXPECT_FALSE(r.next(&e, &err));
            EXPECT_EQ(err, "");
            return "";
        }
        out->push_back(e);
    }
    return err;
}

TEST(NondetLog, EveryKindRoundTripsExactly) {
    const auto events = sample_events();
    auto bytes = write_log(events, 123456790000ull);
    std::vector<Event> back;
    uint64_t end = 0;
    EXPECT_EQ(read_all(bytes, &back, &end), "");
    EXPECT_EQ(back, events);
    EXPECT_EQ(end, 123456790000ull);
    // Header 16; then kind + LEB128 delta + site + fields: port read 7, MMIO
    // read 12 (a 32-bit address takes 5 bytes), DMA 12 (4 data bytes),
    // interrupt 10 (a 37-bit delta, vector 0x20 + 1), RDTSC 13 (all ones: 10), RDRAND 12,
    // RDSEED 6, exit request 3, DMA read 10 (a 29-bit address, 4096), disk 15
    // (type byte, offset 2^40 in 6 bytes), packet 14 (8 bytes), end 5.
    EXPECT_EQ(bytes.size(), 135u);
    LogStats stats;
    std::string err;
    ASSERT_TRUE(read_log(bytes.data(), bytes.size(), "nondet.log", kArchX86_64, &stats, nullptr, &err)) << err;
    EXPECT_EQ(stats.entries, 11u);
    EXPECT_EQ(stats.per_kind[static_cast<int>(Kind::PortRead)], 1u);
    EXPECT_EQ(stats.per_kind[static_cast<int>(Kind::DmaWrite)], 1u);
    EXPECT_EQ(stats.per_kind[static_cast<int>(Kind::Packet)], 1u);
    EXPECT_EQ(stats.dma_bytes, 4u);
    EXPECT_EQ(stats.packet_bytes, 8u);
    EXPECT_EQ(stats.last_icount, 123456790000ull);
}

TEST(NondetLog, AnEmptyRecordingHasOnlyItsEnd) {
    auto bytes = write_log({}, 42);
    std::vector<Event> back;
    uint64_t end = 0;
    EXPECT_EQ(read_all(bytes, &back, &end), "");
    EXPECT_TRUE(back.empty());
    EXPECT_EQ(end, 42u);
}

TEST(NondetLog, EveryTruncationIsAnErrorLine) {
    auto bytes = write_log(sample_events(), 123456790000ull);
    for (size_t n = 0; n < bytes.size(); n++) {
        std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
        std::vector<Event> back;
        std::string err = read_all(cut, &back);
        EXPECT_NE(err.find("nondet.log: truncated"), std::string::npos) << n << ": " << err;
        EXPECT_EQ(err.find('\n'), std::string::npos);
    }
}

TEST(NondetLog, EveryCorruptedByteIsCaughtOrHarmless) {
    // Any single byte changed: the reader never crashes or reads out of
    // bounds (the sanitized unit tests run this too); most changes are
    // reported, the rest change a value and leave a well-formed log.
    auto bytes = write_log(sample_events(), 123456790000ull);
    int reported = 0;
    for (size_t i = 0; i < bytes.size(); i++) {
        for (uint8_t flip : {0x01, 0x80, 0xff}) {
            std::vector<uint8_t> bad = bytes;
            bad[i] ^= flip;
            std::vector<Event> back;
            std::string err = read_all(bad, &back);
            reported += !err.empty();
            EXPECT_EQ(err.find('\n'), std::string::npos);
        }
    }
    EXPECT_GT(reported, static_cast<int>(bytes.size()));
}

TEST(NondetLog, HeaderAndStructureErrorsNameTheProblem) {
    auto good = write_log(sample_events(), 123456790000ull);
    std::vector<Event> back;
    auto with = [&](size_t at, uint8_t v) {
        auto b = good;
        b[at] = v;
        back.clear();
        return read_all(b, &back);
    };
    EXPECT_EQ(with(0, 'X'), "nondet.log: not a Hypanda nondet log (no HYPNDLOG magic)");
    EXPECT_EQ(with(8, 3), "nondet.log: format version 3 is not supported (this build reads versions 1 to 2)");
    EXPECT_EQ(with(8, 0), "nondet.log: format version 0 is not supported (this build reads versions 1 to 2)");
    EXPECT_EQ(with(12, 183), "nondet.log: recorded for architecture 183 (ELF machine), not 62");
    EXPECT_EQ(with(16, 0x42), "nondet.log: corrupt: unknown entry kind 66 at byte 16 (entry 0)");
    // The first entry's access size (kind, delta, site, port in 2 bytes).
    EXPECT_EQ(with(21, 3), "nondet.log: corrupt: access size 3 at byte 16 (entry 0)");
    auto trailing = good;
    trailing.push_back(0);
    back.clear();
    EXPECT_EQ(read_all(trailing, &back), "nondet.log: corrupt: 1 bytes after the end entry at byte 135 (entry 11)");
    // A version 1 log has no kind after end (9): the DMA read (entry 8) is
    // refused in one.
    EXPECT_EQ(with(8, 1), "nondet.log: corrupt: unknown entry kind 10 in a version 1 log at byte 91 (entry 8)");
    // The disk entry's type byte (after kind, delta, site and a 3-byte
    // address: byte 107) and the packet's direction (byte 120).
    EXPECT_EQ(with(107, 6), "nondet.log: corrupt: disk transfer type 6 at byte 101 (entry 9)");
    EXPECT_EQ(with(120, 2), "nondet.log: corrupt: packet direction 2 at byte 116 (entry 10)");
    std::vector<uint8_t> short_file(good.begin(), good.begin() + 10);
    EXPECT_EQ(read_all(short_file, &back), "nondet.log: truncated: 10 bytes, shorter than the 16-byte header");
}

TEST(NondetLog, WriterRefusesEntriesOutOfOrder) {
    test::TempDir dir;
    LogWriter w;
    std::string err;
    ASSERT_TRUE(w.open(dir.file("log"), kArchX86_64, &err));
    Event a;
    a.kind = Kind::Rdtsc, a.icount = 10;
    w.append(a);
    a.icount = 9;
    w.append(a);
    EXPECT_FALSE(w.finish(20, &err));
    EXPECT_EQ(err, dir.file("log") + ": entries out of instruction-count order (9 after 10)");
}

Manifest sample_manifest() {
    Manifest m;
    m.ram_bytes = 128ull << 20;
    m.instructions = 5000050000ull;
    m.ram_xxh64 = 0x0123456789abcdefull;
    m.cpu_model = "qemu64";
    m.command_line = {"hypanda-system-x86_64", "-m", "128"};
    m.snapshot = {kSnapshotFile, 134217728, 0xfedcba9876543210ull};
    m.log = {kLogFile, 91, 0x1111};
    return m;
}

TEST(Manifest, RoundTripsExactly) {
    Manifest m = sample_manifest(), back;
    std::string err;
    ASSERT_TRUE(manifest_from_json(manifest_to_json(m), "x86_64", &back, &err)) << err;
    EXPECT_EQ(back, m);
}

TEST(Manifest, RefusesWhatIsWrongWithOneLine) {
    const std::string good = manifest_to_json(sample_manifest());
    auto parse = [](const std::string& text, const std::string& arch = "x86_64") {
        Manifest m;
        std::string err;
        EXPECT_FALSE(manifest_from_json(text, arch, &m, &err));
        return err;
    };
    auto edit = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        size_t at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        return s.replace(at, from.size(), to);
    };
    EXPECT_EQ(parse("{"), "manifest.json: not valid JSON");
    EXPECT_EQ(parse("[]"), "manifest.json: must be a JSON object");
    EXPECT_EQ(parse(edit("\"version\": 1", "\"version\": 7")),
              "manifest.json: format version 7 is not supported (this build reads version 1)");
    EXPECT_EQ(parse(good, "aarch64"), "manifest.json: recorded for \"x86_64\", this emulator replays aarch64");
    EXPECT_EQ(parse(edit("\"instructions\"", "\"instrs\"")), "manifest.json: instructions is missing");
    EXPECT_EQ(parse(edit("\"ram_bytes\": 134217728", "\"ram_bytes\": \"big\"")),
              "manifest.json: ram_bytes must be a non-negative integer");
    EXPECT_EQ(parse(edit("\"0123456789abcdef\"", "\"xyz\"")),
              "manifest.json: ram_xxh64 must be 16 hex digits, not \"xyz\"");
    EXPECT_EQ(parse(edit("\"snapshot.bin\"", "\"../etc/passwd\"")),
              "manifest.json: files.snapshot.name \"../etc/passwd\" must be a file name in the recording's folder");
    EXPECT_EQ(parse(edit("\"format\": \"hypanda-recording\"", "\"format\": \"pan\\nda\"")),
              "manifest.json: format is \"pan\\nda\", not \"hypanda-recording\"");  // one line
    EXPECT_EQ(parse(edit("\"format\": \"hypanda-recording\"", "\"format\": \"panda\"")),
              "manifest.json: format is \"panda\", not \"hypanda-recording\"");
}

TEST(Manifest, FilesAreCheckedAgainstSizeAndChecksum) {
    std::vector<uint8_t> data = {1, 2, 3, 4};
    FileEntry f{"nondet.log", 4, xxh64(data.data(), data.size())};
    std::string err;
    EXPECT_TRUE(check_file(f, data, &err)) << err;
    data.pop_back();
    EXPECT_FALSE(check_file(f, data, &err));
    EXPECT_EQ(err, "nondet.log: 3 bytes, the manifest says 4 (truncated)");
    data = {1, 2, 3, 5};
    EXPECT_FALSE(check_file(f, data, &err));
    EXPECT_EQ(err, "nondet.log: checksum " + hex64(xxh64(data.data(), 4)) + " does not match the manifest's " +
                       hex64(f.xxh64) + " (corrupted)");
}

}  // namespace
}  // namespace hypanda::rr

namespace hypanda::rr {
namespace {

// RAM with random pages, zero pages and a tail that is not a whole chunk.
std::vector<uint8_t> sample_ram() {
    std::vector<uint8_t> ram(3 * kSnapshotChunkBytes + 4097);
    uint64_t x = 0x5eed;
    for (size_t i = 0; i < ram.size(); i += 8) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        if ((i / 4096) % 3 != 1) {  // every third page stays zero
            for (size_t b = 0; b < 8 && i + b < ram.size(); b++) {
                ram[i + b] = static_cast<uint8_t>(x >> (8 * b));
            }
        }
    }
    return ram;
}

struct WrittenSnapshot {
    std::vector<uint8_t> file;
    uint64_t bytes = 0, xxh = 0;
};

WrittenSnapshot write_snapshot(const std::vector<uint8_t>& ram, const std::vector<uint8_t>& cpu, size_t piece) {
    test::TempDir dir;
    SnapshotWriter w;
    std::string err;
    EXPECT_TRUE(w.open(dir.file("snap"), kArchX86_64, ram.size(), cpu, &err)) << err;
    for (size_t at = 0; at < ram.size(); at += piece) {
        w.write_ram(ram.data() + at, std::min(piece, ram.size() - at));
    }
    EXPECT_TRUE(w.finish(&err)) << err;
    std::string s = test::read_file(dir.file("snap"));
    return {std::vector<uint8_t>(s.begin(), s.end()), w.bytes(), w.xxh64()};
}

std::string read_snapshot(const std::vector<uint8_t>& file, std::vector<uint8_t>* ram, std::vector<uint8_t>* cpu) {
    SnapshotReader r;
    std::string err;
    if (!r.open(file.data(), file.size(), "snapshot.bin", kArchX86_64, &err)) {
        return err;
    }
    ram->assign(r.ram_bytes(), 0xcc);
    *cpu = r.cpu_state();
    return r.read_ram(ram->data(), &err) ? "" : err;
}

TEST(Snapshot, RoundTripsCpuStateAndRamExactly) {
    const auto ram = sample_ram();
    const std::vector<uint8_t> cpu = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    for (size_t piece : {size_t{4096}, size_t{1000003}, ram.size()}) {
        WrittenSnapshot s = write_snapshot(ram, cpu, piece);
        EXPECT_EQ(s.bytes, s.file.size());
        EXPECT_EQ(s.xxh, xxh64(s.file.data(), s.file.size()));
        // Zero pages and the LCG's bytes compress: well under the RAM size.
        EXPECT_LT(s.file.size(), ram.size());
        std::vector<uint8_t> back, cpu_back;
        EXPECT_EQ(read_snapshot(s.file, &back, &cpu_back), "") << piece;
        EXPECT_TRUE(back == ram) << piece;
        EXPECT_EQ(cpu_back, cpu);
    }
}

TEST(Snapshot, TruncationAndCorruptionAreOneErrorLine) {
    const auto ram = sample_ram();
    WrittenSnapshot s = write_snapshot(ram, {7, 7, 7}, ram.size());
    std::vector<uint8_t> back, cpu;
    for (size_t n : {size_t{0}, size_t{20}, size_t{35}, size_t{40}, s.file.size() / 3, s.file.size() - 9,
                     s.file.size() - 1}) {
        std::vector<uint8_t> cut(s.file.begin(), s.file.begin() + n);
        std::string err = read_snapshot(cut, &back, &cpu);
        EXPECT_EQ(err.rfind("snapshot.bin: truncated", 0), 0u) << n << ": " << err;
    }
    auto with = [&](size_t at, uint8_t v) {
        auto b = s.file;
        b[at] = v;
        return read_snapshot(b, &back, &cpu);
    };
    EXPECT_EQ(with(0, 'X'), "snapshot.bin: not a Hypanda snapshot (no HYPNSNAP magic)");
    EXPECT_EQ(with(8, 9), "snapshot.bin: format version 9 is not supported (this build reads version 1)");
    EXPECT_EQ(with(12, 3), "snapshot.bin: taken on architecture 3 (ELF machine), not 62");
    // The first chunk's data starts after the header, the CPU state and the
    // chunk header: change a byte in the middle of the compressed data.
    std::string err = with(32 + 3 + 16 + 200, 0x5a);
    EXPECT_EQ(err.rfind("snapshot.bin: corrupt: a RAM chunk", 0), 0u) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos);
    auto trailing = s.file;
    trailing.push_back(0);
    EXPECT_EQ(read_snapshot(trailing, &back, &cpu),
              "snapshot.bin: corrupt: 1 bytes after the trailer at byte " + std::to_string(s.file.size()));
}

TEST(Snapshot, WriterChecksTheRamSizeItWasGiven) {
    test::TempDir dir;
    SnapshotWriter w;
    std::string err;
    ASSERT_TRUE(w.open(dir.file("snap"), kArchX86_64, 8192, {}, &err)) << err;
    std::vector<uint8_t> page(4096, 1);
    w.write_ram(page.data(), page.size());
    EXPECT_FALSE(w.finish(&err));
    EXPECT_EQ(err, dir.file("snap") + ": 4096 bytes of RAM written, 8192 announced");
}

}  // namespace
}  // namespace hypanda::rr

// The replay result's JSON reads back as written, and a file that is not
// one is one line naming what is wrong.
TEST(ReplayResult, RoundTripsAndRefusesWhatIsNotOne) {
    const hypanda::rr::ReplayResult r{"/srv/rec", false, 206515, 7340573, "replay /srv/rec diverged at ..."};
    hypanda::rr::ReplayResult back;
    std::string err;
    ASSERT_TRUE(hypanda::rr::replay_result_from_json(hypanda::rr::replay_result_to_json(r), &back, &err)) << err;
    EXPECT_EQ(back, r);
    EXPECT_FALSE(hypanda::rr::replay_result_from_json("[]", &back, &err));
    EXPECT_EQ(err, "replay result: not a JSON object");
    EXPECT_FALSE(hypanda::rr::replay_result_from_json(
        R"({"format":"hypanda-replay-result","version":1,"recording":"r","verified":"yes","instructions":1,)"
        R"("recorded":1,"error":""})",
        &back, &err));
    EXPECT_EQ(err, "replay result: \"verified\" is missing or not true/false");
    EXPECT_FALSE(hypanda::rr::replay_result_from_json(R"({"format":"hypanda-replay-result","version":2})", &back, &err));
    EXPECT_EQ(err, "replay result: version is not 1");
}

// A replay keeps what makes the machine from a recorded command line and
// drops what needs the recording host: here the command line libvirt 9.0
// gave a domain (secret, file descriptors, chardevs, monitor, audio). Its
// devices stay, without their host side: the serial port without its
// chardev, the disk on an empty drive (QEMU's null-co).
TEST(ReplayArgs, LibvirtCommandLineKeepsOnlyTheMachine) {
    const std::vector<std::string> recorded = {
        "/usr/bin/hypanda-system-x86_64", "-name", "guest=t5,debug-threads=on", "-S", "-object",
        R"({"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/libvirt/qemu/domain-3-t5/master-key.aes"})",
        "-machine", "pc-i440fx-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram", "-accel", "kvm", "-cpu",
        "qemu64", "-m", "128", "-object", R"({"qom-type":"memory-backend-file","id":"pc.ram","mem-path":"/dev/hugepages","size":134217728})",
        "-overcommit", "mem-lock=off", "-smp", "1,sockets=1,cores=1,threads=1", "-uuid",
        "241474aa-3567-4081-9485-b74cccff7290", "-display", "none", "-no-user-config", "-nodefaults", "-chardev",
        "socket,id=charmonitor,fd=29,server=on,wait=off", "-mon", "chardev=charmonitor,id=monitor,mode=control",
        "-rtc", "base=utc", "-no-shutdown", "-no-acpi", "-boot", "strict=on", "-kernel", "/srv/hptest.elf",
        "-append", "count 5", "-add-fd", "set=0,fd=30,opaque=serial0-source", "-chardev",
        "file,id=charserial0,path=/dev/fdset/0,append=on", "-device",
        R"({"driver":"isa-serial","chardev":"charserial0","id":"serial0","index":0})", "-device",
        "ide-hd,bus=ide.0,drive=disk0", "-audiodev", R"({"id":"audio1","driver":"none"})", "-sandbox",
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny", "-device",
        "hypanda-hypercall,allow=record,record=/var/lib/h/rec", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        "-object", "rng-random,id=rng0,filename=/dev/urandom", "-object", "iothread,id=io1", "-msg",
        "timestamp=on"};
    const std::vector<std::string> expected = {
        "-name", "guest=t5,debug-threads=on",
        "-machine", "pc-i440fx-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram",
        "-cpu", "qemu64", "-m", "128",
        "-object", "memory-backend-ram,id=pc.ram,size=134217728",
        "-smp", "1,sockets=1,cores=1,threads=1", "-nodefaults", "-rtc", "base=utc", "-no-acpi",
        "-boot", "strict=on",
        "-device", R"({"driver":"isa-serial","id":"serial0","index":0})",
        "-blockdev", "driver=null-co,node-name=hypanda-replay-disk-0",
        "-device", "ide-hd,bus=ide.0,drive=hypanda-replay-disk-0",
        "-device", "hypanda-hypercall,allow=record",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        "-object", "iothread,id=io1",
        "-accel", "tcg", "-display", "none", "-serial", "none", "-monitor", "none"};
    std::vector<std::string> got;
    std::string err;
    ASSERT_TRUE(hypanda::rr::replay_machine_args(recorded, &got, &err)) << err;
    EXPECT_EQ(got, expected);
}

// What the replay does not know is refused with one line naming it: each of
// these once reached the host (a TCP connection, a root-only file read into
// guest memory, a host input device, a host PCI device) or could.
TEST(ReplayArgs, RefusesWhatReachesTheHostNamingIt) {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"-object", "input-barrier,id=b,name=x,server=127.0.0.1,port=24800"},
         "the recording's command line has '-object input-barrier,id=b,name=x,server=127.0.0.1,port=24800': object "
         "type 'input-barrier' is not one a replay creates"},
        {{"-device", "loader,file=/etc/shadow"},
         "the recording's command line has '-device loader,file=/etc/shadow': device model 'loader' is not one a "
         "replay creates"},
        {{"-object", R"({"qom-type":"input-linux","id":"k","evdev":"/dev/input/event0"})"},
         "the recording's command line has '-object {\"qom-type\":\"input-linux\",\"id\":\"k\",\"evdev\":\"/dev/input/"
         "event0\"}': object type 'input-linux' is not one a replay creates"},
        {{"-device", "vfio-pci,host=0000:01:00.0"},
         "the recording's command line has '-device vfio-pci,host=0000:01:00.0': device model 'vfio-pci' is not one "
         "a replay creates"},
        {{"-device", "e1000,romfile=/etc/shadow"},
         "the recording's command line has '-device e1000,romfile=/etc/shadow': property 'romfile' is not one a "
         "replay takes"},
        {{"-machine", "pc,dumpdtb=/etc/passwd"},
         "the recording's command line has '-machine pc,dumpdtb=/etc/passwd': property 'dumpdtb' is not one a "
         "replay takes"},
        {{"-global", "e1000.romfile=/etc/shadow"},
         "the recording's command line has '-global e1000.romfile=/etc/shadow': property 'romfile' is not one a "
         "replay takes"},
        {{"-object", "filter-dump,id=f,netdev=n,file=/etc/passwd"},
         "the recording's command line has '-object filter-dump,id=f,netdev=n,file=/etc/passwd': object type "
         "'filter-dump' is not one a replay creates"},
        {{"-set", "device.d.file=/etc/shadow"},
         "the recording's command line has '-set': not an option a replay takes"},
        {{"-cpu", "max,$(touch /tmp/x)"}, "the recording's command line has '-cpu max,$(touch /tmp/x)': not a plain value"},
    };
    for (const auto& [options, want] : cases) {
        std::vector<std::string> line = {"/usr/bin/hypanda-system-x86_64", "-m", "64"};
        line.insert(line.end(), options.begin(), options.end());
        std::vector<std::string> got;
        std::string err;
        EXPECT_FALSE(hypanda::rr::replay_machine_args(line, &got, &err)) << options[0];
        EXPECT_EQ(err, want + "; a replay runs only the machine (docs/recording.md lists what it takes)");
    }
}

// Commas escaped as ",," stay one value, and what is left out of a kept
// option (the hypercall device's recording path) leaves the rest intact.
TEST(ReplayArgs, KeepsEscapedCommasAndDropsOnlyTheRecordingPath) {
    const std::vector<std::string> line = {"qemu", "-name", "guest=a,,b", "-device",
                                           R"({"driver":"hypanda-hypercall","allow":"record","record":"/r","id":"h"})",
                                           "-boot", "order=c,splash=/etc/shadow,menu=on"};
    std::vector<std::string> got;
    std::string err;
    ASSERT_TRUE(hypanda::rr::replay_machine_args(line, &got, &err)) << err;
    // (No network named: the default NIC, on a hub port to nowhere.)
    const std::vector<std::string> want = {"-name", "guest=a,,b", "-device",
                                           R"({"allow":"record","driver":"hypanda-hypercall","id":"h"})", "-boot",
                                           "c,menu=on", "-nic", "hubport,hubid=0", "-accel", "tcg", "-display",
                                           "none", "-serial", "none", "-monitor", "none"};
    EXPECT_EQ(got, want);
}

// Devices keep their places without their host side, so the replayed
// machine's PCI addresses (which name RAM blocks: a NIC's ROM) are the
// recorded ones: a NIC without its netdev, a disk on an empty drive, a
// -drive that makes a PCI function on an empty drive, -nic and -net nic on a
// hub port that leads nowhere; no default NIC appears when the recording had
// none.
TEST(ReplayArgs, DevicesKeepTheirPlacesWithoutTheirHostSide) {
    auto filtered = [](const std::vector<std::string>& options) {
        std::vector<std::string> line = {"qemu"};
        line.insert(line.end(), options.begin(), options.end());
        std::vector<std::string> got;
        std::string err;
        EXPECT_TRUE(hypanda::rr::replay_machine_args(line, &got, &err)) << err;
        got.resize(got.size() >= 8 ? got.size() - 8 : 0);  // the replay's own -accel, -display, -serial, -monitor
        return got;
    };
    using V = std::vector<std::string>;
    EXPECT_EQ(filtered({"-drive", "file=d.img,format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0",
                        "-netdev", "user,id=n0,hostfwd=tcp::2222-:22", "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01"}),
              (V{"-blockdev", "driver=null-co,node-name=hypanda-replay-disk-0", "-device",
                 "virtio-blk-pci,drive=hypanda-replay-disk-0", "-device", "virtio-net-pci,mac=52:54:00:00:00:01", "-nic",
                 "none"}));
    EXPECT_EQ(filtered({"-drive", "file=/srv/a.qcow2,if=virtio,index=1", "-drive", "file=b.img,if=ide", "-nic",
                        "user,model=e1000,hostfwd=tcp::80-:80,mac=52:54:00:12:34:56", "-nic", "tap,ifname=tap0,script=/x"}),
              (V{"-drive", "if=virtio,driver=null-co,index=1", "-nic", "hubport,hubid=0,model=e1000,mac=52:54:00:12:34:56",
                 "-nic", "hubport,hubid=0"}));
    EXPECT_EQ(filtered({"-net", "nic,model=virtio-net-pci", "-net", "user", "-device",
                        "virtserialport,chardev=c0,name=org.a", "-device", "virtio-rng-pci,rng=r0"}),
              (V{"-nic", "hubport,hubid=0,model=virtio-net-pci", "-device", "virtserialport,name=org.a", "-device",
                 "virtio-rng-pci"}));
    // libvirt's JSON: the same, the empty drive's name written into it.
    EXPECT_EQ(filtered({"-blockdev", R"({"driver":"file","filename":"/srv/a.img","node-name":"libvirt-1-storage"})",
                        "-device", R"({"driver":"virtio-blk-pci","bus":"pci.0","addr":"0x4","drive":"libvirt-1-format","id":"virtio-disk0","bootindex":1})",
                        "-netdev", R"({"type":"user","id":"hostnet0"})", "-device",
                        R"({"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"52:54:00:3b:1e:07","bus":"pci.0","addr":"0x3"})"}),
              (V{"-blockdev", "driver=null-co,node-name=hypanda-replay-disk-0", "-device",
                 R"({"addr":"0x4","bootindex":1,"bus":"pci.0","drive":"hypanda-replay-disk-0","driver":"virtio-blk-pci","id":"virtio-disk0"})",
                 "-device", R"({"addr":"0x3","bus":"pci.0","driver":"virtio-net-pci","id":"net0","mac":"52:54:00:3b:1e:07"})",
                 "-nic", "none"}));
    EXPECT_EQ(filtered({"-nodefaults", "-device", "ahci,id=a", "-device", "ide-hd,bus=a.0,drive=x", "-device",
                        "ide-cd,bus=a.1,drive=cd"}),
              (V{"-nodefaults", "-device", "ahci,id=a", "-blockdev", "driver=null-co,node-name=hypanda-replay-disk-0",
                 "-device", "ide-hd,bus=a.0,drive=hypanda-replay-disk-0", "-blockdev",
                 "driver=null-co,node-name=hypanda-replay-disk-1", "-device", "ide-cd,bus=a.1,drive=hypanda-replay-disk-1"}));
}
