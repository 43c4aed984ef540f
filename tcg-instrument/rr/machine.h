// The machine state a snapshot carries in its CPU-state part: the RAM
// blocks' table, then the emulator's CPU state (QEMU's vmstate of the
// vCPU, opaque here).
//
//   u32 block count (1..256), per block: u8 name length (1..255), the
//   name, u64 bytes; then u32 CPU-state length and the CPU state.
//
// The first block is the guest's RAM; the manifest's ram_bytes is its
// size and ram_xxh64 its hash at the end. The snapshot's RAM is all the
// blocks, concatenated in this order.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hypanda::rr {

struct RamBlock {
    std::string name;
    uint64_t bytes = 0;
};

struct MachineState {
    std::vector<RamBlock> blocks;
    std::vector<uint8_t> cpu;
};

std::vector<uint8_t> machine_state_bytes(const MachineState& m);

// Checks everything; `name` prefixes the one-line error.
bool parse_machine_state(const std::vector<uint8_t>& bytes, const std::string& name, MachineState* m,
                         std::string* err);

}  // namespace hypanda::rr
