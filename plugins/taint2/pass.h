// The taint2 pass (docs/taint.md): instruments a lifted block so that, as
// it runs, the taint of each value follows the data. Each SSA value has a
// slot of 16 bytes in the kSlot space (value number × 16, numbered per
// function: blocks run one at a time); the CPU state is the kEnv space,
// reached through the block's argument 0 at constant offsets. The
// instrumented code calls the Runtime's functions, which the plugin (or a
// test) defines over a TaintState.
//
// Covered: the CPU state's loads and stores, guest memory through the
// softmmu helpers (system emulation), binary operations, casts,
// comparisons, select and phi; guest conditional branches (the lifter's
// !hypanda.branch) and stores to the program counter are reported to the
// runtime's branch(). Other loads in a block (host memory: the block's own
// bookkeeping) give untainted values. Functions that are not blocks (QEMU's
// helpers in the JIT) are instrumented with a frame of their own (below):
// every load and store through whatever pointer, calls between frames, and
// the guest accesses they make through cpu_ld*/cpu_st*. A call of a
// function that turns out not to be instrumented (native) gives its result
// the mix of its first two arguments.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstddef>
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

    // Helpers in the JIT: host memory through a pointer (the CPU state, a
    // helper's locals, the emulator's globals), n bytes between it and a
    // slot; the pointer's own taint in addr_slot.
    void (*host_load)(uint64_t dst_slot, uint64_t n, void* ptr, uint64_t addr_slot);
    void (*host_store)(void* ptr, uint64_t src_slot, uint64_t n, uint64_t addr_slot);
    // memcpy/memmove and memset between host pointers.
    void (*host_copy)(void* dst, void* src, uint64_t n);
    void (*host_clear)(void* dst, uint64_t n);
    // After a call: when the callee was instrumented and has just returned
    // (*returned_from is its frame), its return slot's n bytes to the
    // result's slot; otherwise (a native function) the result is the mix
    // of the n_a bytes of slot a and the n_b of slot b (its arguments).
    void (*call_result)(uint64_t dst_slot, uint64_t n, uint64_t frame, uint64_t a, uint64_t n_a,
                        uint64_t b, uint64_t n_b);
    // Written by the instrumented code: 0 before each call, a function's
    // frame as it returns.
    uint64_t* returned_from;
};

// Functions other than blocks (helpers in the JIT) each have a frame of
// slots of their own, at kFrames + k × kFrameSize for the k-th function
// named (helpers do not recurse): its return value's slot first, then one
// slot of kParamSlot bytes per parameter, then its values'. A call site
// copies its arguments' taint to the callee's parameter slots and takes the
// result's from its return slot.
constexpr uint64_t kFrames = uint64_t{1} << 40;
constexpr uint64_t kFrameSize = uint64_t{1} << 32;
constexpr uint64_t kParamSlot = 64;
// The frame of the function called `name` (the same for a call site and
// the function's own body; thread-safe).
uint64_t frame_of(const char* name, size_t length);
inline uint64_t param_slot(uint64_t frame, unsigned k) {
    return frame + kParamSlot * (1 + uint64_t{k});
}

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
    // Whether a call may reach an instrumented function (QEMU's helpers in
    // the JIT): then its arguments go to the callee's frame and its result
    // comes from there when the callee ran instrumented. Off, every call is
    // to native code and gets the mix of its first two arguments, with no
    // frame traffic at each call site.
    bool helper_frames = true;
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
