// The taint2 pass (docs/taint.md): instruments a lifted block so that, as
// it runs, the taint of each value follows the data. Each SSA value has a
// slot of 16 bytes in the kSlot space (value number × 16, numbered per
// function: blocks run one at a time); the CPU state is the kEnv space,
// reached through the block's argument 0 at constant offsets. The
// instrumented code calls the runtime functions below, which the plugin
// (or a test) defines over a TaintState.
//
// Covered so far: the CPU state's loads and stores, binary operations,
// casts, comparisons, select and phi. Other loads (host memory: the
// block's own bookkeeping) give untainted values; calls give their result
// the mix of their arguments; guest memory (the softmmu helpers) is not
// followed yet.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>

namespace llvm {
class Function;
}

// The runtime the instrumented code calls: spaces are taint2::Space values,
// addresses and lengths in bytes.
extern "C" {
void taint2_rt_copy(uint8_t dst_space, uint64_t dst, uint8_t src_space, uint64_t src, uint64_t n);
void taint2_rt_clear(uint8_t dst_space, uint64_t dst, uint64_t n);
void taint2_rt_parallel(uint8_t dst_space, uint64_t dst, uint8_t a_space, uint64_t a, uint8_t b_space, uint64_t b,
                        uint64_t n);
void taint2_rt_mix(uint8_t dst_space, uint64_t dst, uint64_t n, uint8_t a_space, uint64_t a, uint64_t n_a,
                   uint8_t b_space, uint64_t b, uint64_t n_b);
}

namespace hypanda::taint2 {

// The kSlot addresses no value has: reading there gives untainted bytes,
// so a constant operand reads there (32 KiB: any value's size); above it,
// the scratch slots phis are copied through.
constexpr uint64_t kCleanSlot = UINT64_MAX - 0xffff;
constexpr uint64_t kScratchSlots = kCleanSlot + 0x8000;
constexpr uint64_t kSlotSize = 16;

struct InstrumentStats {
    unsigned values = 0;      // values given a slot
    unsigned calls = 0;       // runtime calls inserted
    unsigned unfollowed = 0;  // instructions whose result is cleared for want of a rule
};

// Instruments `fn` in place; call it once per function.
InstrumentStats instrument(llvm::Function& fn);

}  // namespace hypanda::taint2
