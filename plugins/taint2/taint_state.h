// The taint engine's state and the operations the taint2 pass inserts into
// lifted code (docs/taint.md): shadows for guest RAM, the CPU state,
// the LLVM values of the block running, and I/O buffers, and what each
// kind of computation does to the taint of its result.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include <vector>

#include "label_set.h"
#include "shadow.h"

namespace hypanda::taint2 {

// The address spaces taint lives in.
enum class Space : uint8_t {
    kRam,   // guest physical addresses
    kEnv,   // the CPU state, by offset (registers)
    kSlot,  // the block's LLVM values, a slot of 16 bytes each
    kIo,    // device buffers (disk and network transfers), by the replay's address
};
constexpr int kSpaces = 4;

struct Place {
    Space space;
    uint64_t addr;
};

class TaintState {
public:
    LabelSetStore& store() { return store_; }
    const Shadow& shadow(Space s) const { return shadows_[static_cast<int>(s)]; }
    TaintByte get(Place p) const { return shadow(p.space).get(p.addr); }

    // Called with the first RAM address and the length of each run of RAM
    // bytes whose taint an operation changed (on_taint_change).
    void on_ram_change(std::function<void(uint64_t addr, uint64_t len)> fn) {
        ram_changed_ = std::move(fn);
    }

    // Sources: byte k of [p, p + n) gets {first + k} (positional), or all
    // get {label}; compute number 0.
    void label_positional(Place p, uint64_t n, Label first);
    void label_all(Place p, uint64_t n, Label label);

    // dst's n bytes become untainted (a constant or untainted value
    // written there).
    void clear(Place dst, uint64_t n);
    // A move: dst's bytes get src's, compute numbers kept.
    void copy(Place dst, Place src, uint64_t n);
    // Byte-wise operations (and, or, xor, not, a select between bytes):
    // byte k of dst from byte k of a and of b.
    void parallel(Place dst, Place a, Place b, uint64_t n);
    // Operations whose every result byte can depend on every input byte
    // (add, sub, mul, div, shifts, comparisons, extensions): each byte of
    // dst gets the union of all n_a bytes of a and n_b bytes of b. n_b may
    // be 0 (one operand).
    void mix(Place dst, uint64_t n, Place a, uint64_t n_a, Place b, uint64_t n_b);

    // Guest memory through QEMU's softmmu helpers. `translate` gives the
    // guest physical address of a virtual one for the CPU state `env`
    // (nothing: unmapped, or not RAM); each page of an access is
    // translated on its own. `oi` is the helper's MemOpIdx: its MemOp's
    // size and sign.
    using Translate = std::function<std::optional<uint64_t>(void* env, uint64_t vaddr)>;
    void set_translate(Translate fn) { translate_ = std::move(fn); }
    // The access's bytes to the result's slot; the result's other bytes
    // (of its n) clean, or computed from the top byte for a sign-extending
    // load.
    void guest_load(uint64_t dst_slot, uint64_t n, void* env, uint64_t vaddr, uint32_t oi);
    // The value's low bytes (the access's size) from its slot to RAM.
    void guest_store(void* env, uint64_t vaddr, uint64_t src_slot, uint32_t oi);

private:
    Shadow& shadow_mut(Space s) { return shadows_[static_cast<int>(s)]; }
    void set(Place p, TaintByte b);
    // Reports what set() changed in RAM since the last flush.
    void flush_ram_changes();

    LabelSetStore store_;
    Shadow shadows_[kSpaces];
    // Physical addresses of [vaddr, vaddr + n), a page at a time.
    std::vector<std::optional<uint64_t>> physical(void* env, uint64_t vaddr, uint64_t n) const;

    std::function<void(uint64_t, uint64_t)> ram_changed_;
    Translate translate_;
    uint64_t changed_first_ = 0, changed_len_ = 0;
};

}  // namespace hypanda::taint2
