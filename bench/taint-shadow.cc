// Shadow memory of a 4 GiB guest with 1 MiB tainted (bench/taint): a
// TaintState whose RAM shadow gets 1 MiB of positional labels at 3 GiB
// (byte k label k), as a guest's input buffer would. Prints the shadow's
// own count of pages and bytes, and the process's resident memory before
// and after (getrusage's peak and /proc/self/statm's current), so the label
// sets' cost (1 Mi distinct sets here: the worst case) shows too.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <sys/resource.h>

#include <unistd.h>
#include <cstdint>
#include <cstdio>
#include <fstream>

#include "taint_state.h"

namespace {

uint64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

int main() {
    using hypanda::taint2::Place;
    using hypanda::taint2::Space;
    const uint64_t before = resident_bytes();
    hypanda::taint2::TaintState state;
    const uint64_t start = 3ull << 30, size = 1ull << 20;
    state.label_positional({Space::kRam, start}, size, 0);
    const uint64_t after = resident_bytes();
    const auto& ram = state.shadow(Space::kRam);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf(
        "shadow, 4 GiB guest, 1 MiB tainted (one label a byte): %zu pages, %.1f MiB of shadow "
        "pages; "
        "process resident %.1f MiB more (label sets included), peak %.1f MiB\n",
        ram.pages(), ram.resident_bytes() / 1048576.0, (after - before) / 1048576.0,
        usage.ru_maxrss / 1024.0);
    return ram.tainted_bytes() == size ? 0 : 1;
}
