// Writes one valid input per fuzz target (tests/fuzz/run-fuzz), with the
// recording library's own writers: a log with every kind of entry, a
// manifest, a small snapshot.
//
//   make-seeds DIR   writes DIR/seeds-{log,manifest,snapshot}/valid
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "log.h"
#include "manifest.h"
#include "machine.h"
#include "snapshot.h"

using namespace hypanda::rr;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make-seeds DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    std::string err;
    LogWriter log;
    if (!log.open(dir + "/seeds-log/valid", kArchX86_64, &err)) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return 1;
    }
    for (int k = 1; k < kKinds; k++) {
        if (static_cast<Kind>(k) == Kind::End) {
            continue;
        }
        Event e;
        e.icount = 10u * k, e.kind = static_cast<Kind>(k), e.site = k, e.addr = 0x3f8u + k, e.size = 4;
        e.value = 0x1234u * k;
        if (e.kind == Kind::DmaWrite) {
            e.data = {1, 2, 3};
        }
        log.append(e);
    }
    Manifest m;
    m.ram_bytes = 8192, m.instructions = 100, m.cpu_model = "qemu64";
    m.command_line = {"hypanda-system-x86_64"};
    m.snapshot = {kSnapshotFile, 10, 0xff};
    m.log = {kLogFile, 77, 1};
    std::ofstream(dir + "/seeds-manifest/valid") << manifest_to_json(m);
    SnapshotWriter snap;
    std::vector<uint8_t> ram(8192 + 100, 0);
    for (size_t i = 0; i < ram.size(); i += 7) {
        ram[i] = static_cast<uint8_t>(i);
    }
    if (!log.finish(100, &err) || !snap.open(dir + "/seeds-snapshot/valid", kArchX86_64, ram.size(),
                                  machine_state_bytes({{{"pc.ram", ram.size()}}, {1, 2, 3}}), &err)) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return 1;
    }
    snap.write_ram(ram.data(), ram.size());
    if (!snap.finish(&err)) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return 1;
    }
    return 0;
}
