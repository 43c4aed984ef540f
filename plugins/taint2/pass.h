// The taint2 pass (docs/taint.md): instruments a lifted block so that, as
// it runs, the taint of each value follows the data. Each SSA value has a
// slot of 16 bytes in the kSlot space (value number × 16, numbered per
// function: blocks run one at a time); the CPU state is the kEnv space,
// reached through the block's argument 0 at constant offsets. The
// instrumented code calls the Runtime's functions, which the plugin (or a
// test) defines over a TaintState.
//
// Covered so far: the CPU state's loads and stores, guest memory through
// the softmmu helpers (system emulation), binary operations, casts,
// comparisons, select and phi; guest conditional branches (the lifter's
// !hypanda.branch) and stores to the program counter are reported to the
// runtime's branch(). Other loads (host memory: the block's own
// bookkeeping) give untainted values; other calls give their result the
// mix of their first two arguments.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>

namespace llvm {
class Function;
}

namespace hypanda::taint2 {

// The kSlot addresses no value has: reading there gives untainted bytes,
// so a constant operand reads there (32 KiB: any value's size); above it,
// the scratch slots phis are copied through.
constexpr uint64_t kCleanSlot = UINT64_MAX - 0xffff;
constexpr uint64_t kScratchSlots = kCleanSlot + 0x8000;
constexpr uint64_t kSlotSize = 16;

// The runtime the instrumented code calls, by address (spaces are Space
// values; addresses and lengths in bytes). The plugin's functions forward
// to its TaintState; a test's may do the same.
struct Runtime {
    void (*copy)(uint8_t dst_space, uint64_t dst, uint8_t src_space, uint64_t src, uint64_t n);
    void (*clear)(uint8_t dst_space, uint64_t dst, uint64_t n);
    void (*parallel)(uint8_t dst_space, uint64_t dst, uint8_t a_space, uint64_t a, uint8_t b_space,
                     uint64_t b, uint64_t n);
    void (*mix)(uint8_t dst_space, uint64_t dst, uint64_t n, uint8_t a_space, uint64_t a,
                uint64_t n_a, uint8_t b_space, uint64_t b, uint64_t n_b);
    // A guest load through a softmmu helper: the n-byte result's slot, the
    // CPU state, the guest virtual address, the helper's MemOpIdx, the
    // address's slot and the guest instruction's PC.
    void (*guest_load)(uint64_t dst_slot, uint64_t n, void* env, uint64_t vaddr, uint32_t oi,
                       uint64_t addr_slot, uint64_t pc);
    // A guest store: the stored value's slot.
    void (*guest_store)(void* env, uint64_t vaddr, uint64_t src_slot, uint32_t oi,
                        uint64_t addr_slot, uint64_t pc);
    // A control transfer that depends on n bytes of a slot: a guest
    // conditional branch's condition (kind 0) or an indirect jump's
    // target (kind 1), at guest PC pc.
    void (*branch)(void* env, uint64_t slot, uint64_t n, uint64_t pc, uint8_t kind);
};

struct PassOptions {
    // The CPU-state offset of the guest's program counter (x86: eip), so
    // that a store of a computed value there is seen as an indirect jump;
    // negative: none is.
    int64_t pc_offset = -1;
    // Where to count guest instructions (TaintState::instruction_counter),
    // so that compute numbers count a guest instruction's computations
    // once: bumped at each instruction's start (wrapping past 0 to 1).
    // Null: not counted (each operation is a computation).
    uint32_t* instruction_counter = nullptr;
};

struct InstrumentStats {
    unsigned values = 0;      // values given a slot
    unsigned calls = 0;       // runtime calls inserted
    unsigned unfollowed = 0;  // instructions whose result is cleared for want of a rule
};

// Instruments `fn` in place; call it once per function.
InstrumentStats instrument(llvm::Function& fn, const Runtime& runtime,
                           const PassOptions& options = {});

}  // namespace hypanda::taint2
