// Writes one valid input per fuzz target (tests/fuzz/run-fuzz), with the
// recording library's own writers: a log with every kind of entry, a
// manifest, a small snapshot.
//
//   make-seeds DIR   writes DIR/seeds-{log,manifest,snapshot,replay-args}/valid
//
// The replay-args seed is a recorded command line as libvirt gives one,
// its words separated by NUL bytes.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <unistd.h>

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
    for (const char* seed : {"log", "manifest", "snapshot", "replay-args"}) {
        unlink((dir + "/seeds-" + seed + "/valid").c_str());  // the writers never overwrite
    }
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
        } else if (e.kind == Kind::Packet) {
            e.size = static_cast<uint8_t>(PacketDirection::Sent), e.data = {0xff, 0xff, 8, 6};
        } else if (e.kind == Kind::DmaRead || e.kind == Kind::Disk) {
            e.length = 512;
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
    const std::vector<std::string> line = {
        "/usr/bin/hypanda-system-x86_64", "-name", "guest=t5,debug-threads=on", "-S", "-object",
        R"({"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/x/master-key.aes"})", "-machine",
        "pc-i440fx-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram,accel=kvm", "-cpu", "qemu64", "-m", "128",
        "-object", R"({"qom-type":"memory-backend-file","id":"pc.ram","mem-path":"/dev/hugepages","size":134217728})",
        "-smp", "1,sockets=1,cores=1,threads=1", "-nodefaults", "-chardev", "socket,id=c,fd=29,server=on,wait=off",
        "-rtc", "base=utc", "-boot", "strict=on,splash=/x", "-kernel", "/srv/k", "-device",
        R"({"driver":"isa-serial","chardev":"charserial0","id":"serial0","index":0})", "-device",
        "hypanda-hypercall,allow=record,record=/var/lib/h/rec", "-global", "PIIX4_PM.disable_s3=1", "-object",
        "iothread,id=io1", "-net", "none"};
    std::ofstream out(dir + "/seeds-replay-args/valid", std::ios::binary);
    for (const std::string& w : line) {
        out << w << '\0';
    }
    return 0;
}
