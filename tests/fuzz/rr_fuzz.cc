// libFuzzer targets for the recording readers (tests/fuzz/run-fuzz builds
// them with clang): the nondet log reader (RR_FUZZ_LOG), the manifest parser
// (RR_FUZZ_MANIFEST), the snapshot reader with its machine state
// (RR_FUZZ_SNAPSHOT) and the replay's allow-list of the recorded command
// line (RR_FUZZ_REPLAY_ARGS: words separated by NUL bytes). Any input must give a clean result or one error
// line; a crash, a sanitizer report, a hang or a broken property below is a
// finding.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstdlib>
#include <set>
#include <string>

#include <vector>

#include "log.h"
#include "machine.h"
#include "manifest.h"
#include "replay_args.h"
#include "snapshot.h"

using namespace hypanda::rr;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string err;
#if defined(RR_FUZZ_LOG)
    LogReader reader;
    if (reader.open(data, size, "nondet.log", kArchX86_64, &err)) {
        Event e;
        uint64_t last = 0;
        while (reader.next(&e, &err)) {
            if (e.icount < last || reader.offset() > size) {
                std::abort();  // counts only grow; never past the input
            }
            last = e.icount;
        }
    }
    LogStats stats;
    read_log(data, size, "nondet.log", kArchX86_64, &stats, nullptr, &err);
#elif defined(RR_FUZZ_MANIFEST)
    Manifest m, again;
    const std::string text(reinterpret_cast<const char*>(data), size);
    if (manifest_from_json(text, "x86_64", &m, &err)) {
        // What was accepted writes back to a manifest that reads the same.
        if (!manifest_from_json(manifest_to_json(m), "x86_64", &again, &err) || !(again == m)) {
            std::abort();
        }
    }
#elif defined(RR_FUZZ_SNAPSHOT)
    SnapshotReader reader;
    // open() refuses a RAM size the input cannot hold, so this stays small.
    if (reader.open(data, size, "snapshot.bin", kArchX86_64, &err)) {
        if (reader.ram_bytes() > size * ((64u << 20) / 17 + 1)) {
            std::abort();
        }
        std::vector<uint8_t> ram(reader.ram_bytes());
        reader.read_ram(ram.data(), &err);
        MachineState m;
        std::string machine_err;
        if (parse_machine_state(reader.cpu_state(), "snapshot.bin", &m, &machine_err) &&
            machine_state_bytes(m) != reader.cpu_state()) {
            std::abort();  // what parses writes back the same
        }
        if (machine_err.find('\n') != std::string::npos) {
            std::abort();
        }
    }
#elif defined(RR_FUZZ_REPLAY_ARGS)
    std::vector<std::string> line(1);
    for (size_t i = 0; i < size; i++) {
        if (data[i] == 0) {
            line.emplace_back();
        } else {
            line.back() += static_cast<char>(data[i]);
        }
    }
    std::vector<std::string> out;
    if (replay_machine_args(line, &out, &err)) {
        // Only kept options come out, each with its value, and the filter
        // keeps what it made.
        static const std::set<std::string> flags = {"-nodefaults", "-no-hpet", "-no-acpi", "-usb"};
        static const std::set<std::string> kept = {"-machine", "-M", "-cpu", "-m", "-smp", "-numa", "-name",
                                                   "-rtc", "-boot", "-vga", "-global", "-device", "-object",
                                                   "-net", "-accel", "-display", "-serial", "-monitor", "-blockdev",
                                                   "-drive", "-nic"};
        for (size_t i = 0; i < out.size();) {
            if (flags.count(out[i]) != 0) {
                i++;
            } else if (kept.count(out[i]) != 0 && i + 1 < out.size()) {
                i += 2;
            } else {
                std::abort();
            }
        }
        if (out.size() < 8) {
            std::abort();
        }
        std::vector<std::string> again_in = {"x"};
        again_in.insert(again_in.end(), out.begin(), out.end() - 8);  // without the replay's own options
        std::vector<std::string> again;
        std::string again_err;
        if (!replay_machine_args(again_in, &again, &again_err) || again != out) {
            std::abort();
        }
    }
#else
#error "define RR_FUZZ_LOG, RR_FUZZ_MANIFEST, RR_FUZZ_SNAPSHOT or RR_FUZZ_REPLAY_ARGS"
#endif
    if (err.find('\n') != std::string::npos) {
        std::abort();  // errors are one line
    }
    return 0;
}
