// The hypanda tool (tools/hypanda): `info` on recordings written here with
// the recording library (no emulator needed): exact text and JSON for a good
// one, one error line and exit status 1 for truncated, corrupted,
// wrong-version and inconsistent ones, exit status 2 for a bad command line.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "recording.h"
#include "run.h"

namespace hypanda::test {
namespace {

namespace rr = hypanda::rr;

std::string tool() { return build_root() + "/bin/hypanda"; }

void write_bytes(const std::string& path, const std::vector<uint8_t>& data) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data.data()), data.size());
}

std::vector<uint8_t> bytes_of(const std::string& path) {
    std::string s = read_file(path);
    return std::vector<uint8_t>(s.begin(), s.end());
}

// A small recording: a snapshot of two RAM blocks (4 KiB of guest RAM and
// 512 bytes of ROM) and 5 bytes of CPU state, three log entries, 2000
// instructions.
struct Recording {
    TempDir dir;
    rr::Manifest manifest;

    Recording() {
        std::vector<uint8_t> ram(4096 + 512);
        for (size_t i = 0; i < ram.size(); i++) {
            ram[i] = static_cast<uint8_t>(i * 7);
        }
        std::string err;
        rr::SnapshotWriter s;
        EXPECT_TRUE(s.open(dir.file("snapshot.bin"), rr::kArchX86_64, ram.size(),
                           rr::machine_state_bytes({{{"pc.ram", 4096}, {"pc.rom", 512}}, {1, 2, 3, 4, 5}}), &err))
            << err;
        s.write_ram(ram.data(), ram.size());
        EXPECT_TRUE(s.finish(&err)) << err;
        rr::LogWriter w;
        EXPECT_TRUE(w.open(dir.file("nondet.log"), rr::kArchX86_64, &err)) << err;
        rr::Event e;
        e.icount = 100, e.kind = rr::Kind::PortRead, e.site = 1, e.addr = 0x3fd, e.size = 1, e.value = 0x60;
        w.append(e);
        e = rr::Event();
        e.icount = 1500, e.kind = rr::Kind::DmaWrite, e.site = 3, e.addr = 0x8000, e.data = std::vector<uint8_t>(512, 0xab);
        w.append(e);
        e = rr::Event();
        e.icount = 1999, e.kind = rr::Kind::Interrupt, e.site = 4, e.value = 2;
        w.append(e);
        EXPECT_TRUE(w.finish(2000, &err)) << err;
        manifest.ram_bytes = 4096;
        manifest.instructions = 2000;
        manifest.ram_xxh64 = 0x1234;
        manifest.cpu_model = "qemu64";
        manifest.command_line = {"hypanda-system-x86_64", "-m", "4K"};
        manifest.snapshot = {"snapshot.bin", s.bytes(), s.xxh64()};
        const auto log = bytes_of(dir.file("nondet.log"));
        manifest.log = {"nondet.log", log.size(), rr::xxh64(log.data(), log.size())};
        write_manifest();
    }
    void write_manifest() {
        std::ofstream(dir.file("manifest.json")) << rr::manifest_to_json(manifest);
    }
};

RunResult info(const std::string& folder, bool json = false) {
    std::vector<std::string> args = {tool(), "info", folder};
    if (json) {
        args.push_back("--json");
    }
    return run(args, std::chrono::seconds(30));
}

TEST(HypandaInfo, PrintsTheManifestAndLogStatistics) {
    Recording rec;
    RunResult r = info(rec.dir.path());
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    const uint64_t log_bytes = rec.manifest.log.bytes;
    char per_million[64];
    std::snprintf(per_million, sizeof per_million, "%.1f", log_bytes * 1e6 / 2000);
    EXPECT_EQ(r.out, "recording     " + rec.dir.path() + " (format version 1, x86_64)\n"
                     "instructions  2000\n"
                     "RAM           4096 bytes, XXH64 at the end 0000000000001234\n"
                     "CPU model     qemu64\n"
                     "command line  hypanda-system-x86_64 -m 4K\n"
                     "snapshot      snapshot.bin, " + std::to_string(rec.manifest.snapshot.bytes) +
                         " bytes, checksum ok, CPU state 5 bytes\n"
                     "RAM blocks    pc.ram 4096 pc.rom 512\n"
                     "log           nondet.log, " + std::to_string(log_bytes) + " bytes, checksum ok, " +
                         per_million + " bytes per million instructions\n"
                     "entries       3, port-read 1, dma-write 1, interrupt 1\n"
                     "DMA           512 bytes\n");
    EXPECT_EQ(r.err, "");
}

TEST(HypandaInfo, JsonHasTheSameFacts) {
    Recording rec;
    RunResult r = info(rec.dir.path(), true);
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["recording"], rec.dir.path());
    EXPECT_EQ(j["checked"], true);
    EXPECT_EQ(j["manifest"]["instructions"], 2000);
    EXPECT_EQ(j["log"]["entries"], 3);
    EXPECT_EQ(j["log"]["entries_by_kind"]["dma-write"], 1);
    EXPECT_EQ(j["log"]["entries_by_kind"]["rdtsc"], 0);
    EXPECT_EQ(j["log"]["dma_bytes"], 512);
    EXPECT_EQ(j["log"]["bytes"], rec.manifest.log.bytes);
}

TEST(HypandaInfo, BadRecordingsGetOneErrorLine) {
    auto fails_with = [](const std::string& folder, const std::string& what) {
        RunResult r = info(folder);
        EXPECT_EQ(r.exit_status, 1) << describe(r);
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(r.err, "hypanda: info " + folder + ": " + what + "\n");
    };
    {
        Recording rec;
        auto log = bytes_of(rec.dir.file("nondet.log"));
        log.resize(log.size() - 3);
        write_bytes(rec.dir.file("nondet.log"), log);
        fails_with(rec.dir.path(), "nondet.log: " + std::to_string(log.size()) + " bytes, the manifest says " +
                                       std::to_string(rec.manifest.log.bytes) + " (truncated)");
        // With a manifest that agrees, the log's own check speaks.
        rec.manifest.log = {"nondet.log", log.size(), rr::xxh64(log.data(), log.size())};
        rec.write_manifest();
        RunResult r = info(rec.dir.path());
        EXPECT_EQ(r.exit_status, 1);
        EXPECT_EQ(r.err.rfind("hypanda: info " + rec.dir.path() + ": nondet.log: truncated", 0), 0u) << r.err;
    }
    {
        Recording rec;
        auto snap = bytes_of(rec.dir.file("snapshot.bin"));
        snap[100] ^= 1;
        write_bytes(rec.dir.file("snapshot.bin"), snap);
        fails_with(rec.dir.path(), "snapshot.bin: checksum " + rr::hex64(rr::xxh64(snap.data(), snap.size())) +
                                       " does not match the manifest's " + rr::hex64(rec.manifest.snapshot.xxh64) +
                                       " (corrupted)");
    }
    {
        Recording rec;
        std::string m = read_file(rec.dir.file("manifest.json"));
        m.replace(m.find("\"version\": 1"), 12, "\"version\": 3");
        std::ofstream(rec.dir.file("manifest.json")) << m;
        fails_with(rec.dir.path(), "manifest.json: format version 3 is not supported (this build reads version 1)");
    }
    {
        Recording rec;
        rec.manifest.ram_bytes = 8192;
        rec.write_manifest();
        fails_with(rec.dir.path(), "snapshot.bin: holds 4096 bytes of guest RAM, the manifest says 8192");
    }
    {
        Recording rec;
        rec.manifest.instructions = 1999;
        rec.write_manifest();
        fails_with(rec.dir.path(), "nondet.log: ends at instruction 2000, the manifest says the recording spans 1999");
    }
    {
        Recording rec;
        unlink(rec.dir.file("snapshot.bin").c_str());
        fails_with(rec.dir.path(), "snapshot.bin: cannot open: No such file or directory");
    }
    fails_with("/nonexistent-recording", "cannot open the recording's folder: No such file or directory");
    // Recordings come from others: a link in one is never followed (here to
    // a good copy of the file), and only regular files are read (a FIFO
    // would hang the reader).
    {
        Recording rec;
        const std::string copy = rec.dir.file("elsewhere.bin");
        ASSERT_EQ(rename(rec.dir.file("snapshot.bin").c_str(), copy.c_str()), 0);
        ASSERT_EQ(symlink(copy.c_str(), rec.dir.file("snapshot.bin").c_str()), 0);
        fails_with(rec.dir.path(), "snapshot.bin: is a symbolic link; a recording's files are never read through links");
    }
    {
        Recording rec;
        unlink(rec.dir.file("nondet.log").c_str());
        ASSERT_EQ(mkfifo(rec.dir.file("nondet.log").c_str(), 0600), 0);
        fails_with(rec.dir.path(), "nondet.log: not a regular file; a recording holds only regular files");
    }
}

// A folder of recordings given where one recording is wanted: the tool
// says so and names the recordings in it (a link to one is not listed).
TEST(HypandaInfo, AFolderOfRecordingsNamesThem) {
    TempDir parent;
    for (const char* sub : {"b", "a", "empty"}) {
        ASSERT_EQ(mkdir(parent.file(sub).c_str(), 0700), 0);
    }
    std::ofstream(parent.file("a/manifest.json")) << "{}";
    std::ofstream(parent.file("b/manifest.json")) << "{}";
    ASSERT_EQ(symlink(parent.file("a").c_str(), parent.file("link").c_str()), 0);
    const std::string why = "not a recording (it has no manifest.json); it holds the recordings " +
                            parent.file("a") + ", " + parent.file("b") + ": give one of them";
    RunResult i = info(parent.path());
    EXPECT_EQ(i.exit_status, 1);
    EXPECT_EQ(i.err, "hypanda: info " + parent.path() + ": " + why + "\n");
    RunResult r = run({tool(), "replay", parent.path()}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: replay " + parent.path() + ": " + why + "\n");
    RunResult e = info(parent.file("empty"));
    EXPECT_EQ(e.err, "hypanda: info " + parent.file("empty") + ": not a recording (it has no manifest.json)\n");
}

// What a new user met: --cpu for the workloads that need another vendor,
// and a plugin's relative output file refused for a domain (libvirt runs
// the emulator in /, where it would be lost), with the absolute path meant.
TEST(HypandaDomain, CpuOptionAndRelativePluginOutputs) {
    RunResult r = run({tool(), "domain", "create", "d", "--kernel", "/k", "--cpu", "qemu64,vendor=GenuineIntel",
                       "--print"},
                      std::chrono::seconds(10));
    ASSERT_EQ(r.exit_status, 0) << describe(r);
    EXPECT_NE(r.out.find("    <qemu:arg value=\"-cpu\"/>\n    <qemu:arg value=\"qemu64,vendor=GenuineIntel\"/>\n"),
              std::string::npos)
        << r.out;
    r = run({tool(), "domain", "create", "d", "--kernel", "/k", "--plugin", "insn_count:output=rel.txt",
             "--recordings", "/var/r", "--print"},
            std::chrono::seconds(10));
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(r.err, "hypanda: domain 'd': plugin insn_count: output=rel.txt is relative, and libvirt runs the "
                     "emulator in /; give an absolute path, such as /var/r/rel.txt in the recordings folder\n");
    r = run({tool(), "domain", "create", "d", "--kernel", "/k", "--plugin", "probe:trace_file=t", "--print"},
            std::chrono::seconds(10));
    EXPECT_EQ(r.err, "hypanda: domain 'd': plugin probe: trace_file=t is relative, and libvirt runs the emulator in "
                     "/; give an absolute path\n");
    r = run({tool(), "domain", "create", "d", "--kernel", "/k", "--plugin", "insn_count:output=/var/r/n.txt,limit=5",
             "--print"},
            std::chrono::seconds(10));
    EXPECT_EQ(r.exit_status, 0) << describe(r);
}

TEST(HypandaTool, BadCommandLinesExitWithStatusTwo) {
    RunResult none = run({tool()}, std::chrono::seconds(10));
    EXPECT_EQ(none.exit_status, 2);
    EXPECT_EQ(none.err, "hypanda: a command is required (hypanda --help lists them)\n");
    RunResult unknown = run({tool(), "frobnicate"}, std::chrono::seconds(10));
    EXPECT_EQ(unknown.exit_status, 2);
    EXPECT_EQ(unknown.err, "hypanda: The following argument was not expected: frobnicate (hypanda --help lists the commands)\n");
    RunResult missing = run({tool(), "info"}, std::chrono::seconds(10));
    EXPECT_EQ(missing.exit_status, 2);
    EXPECT_EQ(missing.err, "hypanda: NAME is required (hypanda --help lists the commands)\n");
    RunResult help = run({tool(), "info", "--help"}, std::chrono::seconds(10));
    EXPECT_EQ(help.exit_status, 0);
    EXPECT_NE(help.out.find("--json"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace hypanda::test
