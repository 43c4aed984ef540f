// hypanda: the command-line tool around the emulator (docs/cli.md). So far:
//
//   hypanda info NAME [--json]   a recording's manifest and log statistics
//
// Exit status: 0 done, 1 the work failed (one "hypanda: ..." line on stderr
// says why), 2 the command line was wrong.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <CLI/CLI.hpp>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "recording.h"

namespace {

using nlohmann::json;
namespace rr = hypanda::rr;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct Info {
    rr::Recording recording;
    const rr::Manifest& manifest = recording.manifest;
    const rr::LogStats& log = recording.stats;
};

double bytes_per_million(const Info& info) {
    return info.manifest.instructions == 0 ? 0.0 : info.recording.log_bytes * 1e6 / info.manifest.instructions;
}

void print_text(const std::string& name, const Info& info) {
    const rr::Manifest& m = info.manifest;
    std::printf("recording     %s (format version %u, %s)\n", name.c_str(), m.version, m.arch.c_str());
    std::printf("instructions  %" PRIu64 "\n", m.instructions);
    std::printf("RAM           %" PRIu64 " bytes, XXH64 at the end %s\n", m.ram_bytes, rr::hex64(m.ram_xxh64).c_str());
    std::printf("CPU model     %s\n", m.cpu_model.c_str());
    std::string cmd;
    for (const std::string& w : m.command_line) {
        cmd += (cmd.empty() ? "" : " ") + w;
    }
    std::printf("command line  %s\n", cmd.c_str());
    std::printf("snapshot      %s, %" PRIu64 " bytes, checksum ok, CPU state %zu bytes\n", m.snapshot.name.c_str(),
                m.snapshot.bytes, info.recording.machine.cpu.size());
    std::printf("RAM blocks   ");
    for (const rr::RamBlock& b : info.recording.machine.blocks) {
        std::printf(" %s %" PRIu64, b.name.c_str(), b.bytes);
    }
    std::printf("\n");
    std::printf("log           %s, %" PRIu64 " bytes, checksum ok, %.1f bytes per million instructions\n",
                m.log.name.c_str(), info.recording.log_bytes, bytes_per_million(info));
    std::printf("entries       %" PRIu64, info.log.entries);
    for (int k = 1; k < rr::kKinds; k++) {
        if (static_cast<rr::Kind>(k) != rr::Kind::End && info.log.per_kind[k] != 0) {
            std::printf(", %s %" PRIu64, rr::kind_name(static_cast<uint8_t>(k)), info.log.per_kind[k]);
        }
    }
    std::printf("\n");
    if (info.log.dma_bytes != 0) {
        std::printf("DMA           %" PRIu64 " bytes\n", info.log.dma_bytes);
    }
}

void print_json(const std::string& name, const Info& info) {
    json kinds = json::object();
    for (int k = 1; k < rr::kKinds; k++) {
        if (static_cast<rr::Kind>(k) != rr::Kind::End) {
            kinds[rr::kind_name(static_cast<uint8_t>(k))] = info.log.per_kind[k];
        }
    }
    json out = {
        {"recording", name},
        {"manifest", json::parse(rr::manifest_to_json(info.manifest))},
        {"log", {{"bytes", info.recording.log_bytes},
                 {"entries", info.log.entries},
                 {"entries_by_kind", kinds},
                 {"dma_bytes", info.log.dma_bytes},
                 {"bytes_per_million_instructions", bytes_per_million(info)}}},
        {"checked", true},
    };
    std::cout << out.dump(2) << "\n";
}

int cmd_info(const std::string& name, bool as_json) {
    Info info;
    std::string err;
    if (!rr::load_recording(name, &info.recording, &err)) {
        std::fprintf(stderr, "hypanda: info %s: %s\n", name.c_str(), err.c_str());
        return kExitFailed;
    }
    if (as_json) {
        print_json(name, info);
    } else {
        print_text(name, info);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"hypanda: record, replay and analyse guests with Hypanda (see docs/cli.md)", "hypanda"};
    app.require_subcommand(0, 1);
    bool version = false;
    app.add_flag("--version", version, "print the version and exit");

    std::string name;
    bool as_json = false;
    CLI::App* info = app.add_subcommand("info", "print a recording's manifest and log statistics, after checking it");
    info->add_option("NAME", name, "the recording's folder")->required();
    info->add_flag("--json", as_json, "print JSON instead of text");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string what = e.what();
        std::fprintf(stderr, "hypanda: %s (hypanda --help lists the commands)\n", what.c_str());
        return kExitUsage;
    }
    if (version) {
        std::printf("hypanda %s\n", HYPANDA_VERSION);
        return 0;
    }
    if (info->parsed()) {
        return cmd_info(name, as_json);
    }
    std::fprintf(stderr, "hypanda: a command is required (hypanda --help lists them)\n");
    return kExitUsage;
}
