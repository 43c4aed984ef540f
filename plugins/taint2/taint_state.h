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
#include <utility>
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
    kHost,  // the emulator's own memory outside the CPU state, by host address
            // (helpers' locals and the globals they use: helpers in the JIT)
};
constexpr int kSpaces = 5;

struct Place {
    Space space;
    uint64_t addr;
};

class TaintState {
public:
    LabelSetStore& store() { return store_; }
    const Shadow& shadow(Space s) const { return shadows_[static_cast<int>(s)]; }
    TaintByte get(Place p) const { return shadow(p.space).get(p.addr); }
    // No byte anywhere is tainted: every operation of the instrumented code
    // is then a no-op (only labels make taint).
    bool all_clean() const {
        uint64_t n = 0;
        for (const Shadow& s : shadows_) {
            n |= s.tainted_bytes();
        }
        return n == 0;
    }

    // Called with the first RAM address and the length of each run of RAM
    // bytes whose taint an operation changed (on_taint_change).
    void on_ram_change(std::function<void(uint64_t addr, uint64_t len)> fn) {
        ram_changed_ = std::move(fn);
    }

    // Compute numbers per guest instruction: the instruction count the
    // instrumented code bumps at each guest instruction (never 0 once it
    // runs; left at 0, every operation counts as one computation, as in
    // PANDA). The state's own, or one the embedder keeps (it must outlive
    // the state and the code that bumps it). A test steps it with
    // next_instruction().
    uint32_t* instruction_counter() { return counter_; }
    void use_instruction_counter(uint32_t* counter) { counter_ = counter; }
    void next_instruction() { *counter_ = *counter_ + 1 == 0 ? 1 : *counter_ + 1; }

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

    // What n bytes at p carry together: the union of their labels and the
    // largest compute number among the tainted ones (untainted: none is).
    TaintByte summarize(Place p, uint64_t n);

    // Control transfers (on_branch): a guest conditional branch whose
    // condition, or an indirect jump whose target, is tainted — its n
    // bytes in a slot — goes to the handler with the instruction's PC and
    // what the bytes carry together.
    enum class Transfer : uint8_t { kConditional = 0, kIndirect = 1 };
    using BranchHandler =
        std::function<void(void* env, uint64_t pc, Transfer kind, TaintByte what)>;
    void on_branch(BranchHandler fn) { branch_ = std::move(fn); }
    void branch(void* env, uint64_t slot, uint64_t n, uint64_t pc, Transfer kind);

    // A guest access through a tainted address (on_ptr_load/on_ptr_store):
    // the handler gets the PC, the virtual address, the access's size and
    // what the address carries.
    using PointerHandler = std::function<void(void* env, uint64_t pc, uint64_t vaddr, uint64_t size,
                                              bool is_store, TaintByte address)>;
    void on_pointer(PointerHandler fn) { pointer_ = std::move(fn); }
    // Tainted pointers (PANDA's default; its no_tp=y turns them off): a
    // load's result bytes, and a store's stored bytes, are also computed
    // from the address: each such byte is compute(byte, address), the
    // address's bytes taken together.
    void set_tainted_pointers(bool on) { tainted_pointers_ = on; }

    // A guest load whose loaded bytes, or a store whose stored bytes,
    // carry taint once it is done (on_after_load/on_after_store): the PC,
    // the virtual address, the access's size and what its bytes carry
    // together.
    using AccessHandler = std::function<void(void* env, uint64_t pc, uint64_t vaddr, uint64_t size,
                                             bool is_store, TaintByte what)>;
    void on_tainted_access(AccessHandler fn) { access_ = std::move(fn); }

    // Guest memory through QEMU's softmmu helpers. `translate` gives the
    // guest physical address of a virtual one for the CPU state `env`
    // (nothing: unmapped, or not RAM); each page of an access is
    // translated on its own. `oi` is the helper's MemOpIdx: its MemOp's
    // size and sign.
    // The translation also gets the access's MemOpIdx and direction (a
    // translator may look in the CPU's TLB, which the access just used).
    using Translate = std::function<std::optional<uint64_t>(void* env, uint64_t vaddr, uint32_t oi,
                                                            bool is_write)>;
    void set_translate(Translate fn) { translate_ = std::move(fn); }
    // The access's bytes to the result's slot; the result's other bytes
    // (of its n) clean, or computed from the top byte for a sign-extending
    // load. `addr_slot` holds the address's taint (8 bytes), `pc` is the
    // guest instruction's.
    void guest_load(uint64_t dst_slot, uint64_t n, void* env, uint64_t vaddr, uint32_t oi,
                    uint64_t addr_slot, uint64_t pc);
    // The value's low bytes (the access's size) from its slot to RAM.
    void guest_store(void* env, uint64_t vaddr, uint64_t src_slot, uint32_t oi, uint64_t addr_slot,
                     uint64_t pc);

    // Helpers in the JIT reach memory through host pointers: one inside a
    // CPU state registered here is that register's place in kEnv, any other
    // one's is kHost. (kEnv has one CPU state's offsets: one vCPU.)
    void add_cpu_state(const void* env, uint64_t size) {
        cpu_states_.push_back({reinterpret_cast<uintptr_t>(env), size});
    }
    Place host_place(const void* ptr) const {
        const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
        for (const auto& [base, size] : cpu_states_) {
            if (p - base < size) {
                return {Space::kEnv, p - base};
            }
        }
        return {Space::kHost, p};
    }
    // A helper's load or store of n bytes through ptr, whose own taint is
    // in addr_slot (tainted pointers: as for guest accesses).
    void host_load(uint64_t dst_slot, uint64_t n, const void* ptr, uint64_t addr_slot);
    void host_store(const void* ptr, uint64_t src_slot, uint64_t n, uint64_t addr_slot);

private:
    Shadow& shadow_mut(Space s) { return shadows_[static_cast<int>(s)]; }
    void set(Place p, TaintByte b);
    // Reports what set() changed in RAM since the last flush.
    void flush_ram_changes();

    LabelSetStore store_;
    Shadow shadows_[kSpaces];
    // Physical addresses of [vaddr, vaddr + n) into pa[0..n), a page at a
    // time.
    void physical(void* env, uint64_t vaddr, uint64_t n, uint32_t oi, bool is_write,
                  std::optional<uint64_t>* pa) const;

    // n bytes at p taken together as one input of compute(): their labels
    // union, and a number that compute() steps from as it would from the
    // largest of theirs.
    TaintByte as_input(Place p, uint64_t n);
    // The address's taint when it has any (and tells the pointer handler).
    std::optional<TaintByte> tainted_address(void* env, uint64_t addr_slot, uint64_t pc,
                                             uint64_t vaddr, uint64_t size, bool is_store);

    std::vector<std::pair<uintptr_t, uint64_t>> cpu_states_;
    // Tainted pointers for n bytes at dst computed through an address in
    // a slot.
    void through_address(Place dst, uint64_t n, uint64_t addr_slot);
    std::function<void(uint64_t, uint64_t)> ram_changed_;
    BranchHandler branch_;
    PointerHandler pointer_;
    AccessHandler access_;
    bool tainted_pointers_ = true;
    Translate translate_;
    uint64_t changed_first_ = 0, changed_len_ = 0;
    uint32_t own_counter_ = 0;
    uint32_t* counter_ = &own_counter_;
    // compute() for an operation of the current instruction.
    TaintByte computed(TaintByte a, TaintByte b) {
        const uint32_t now = *counter_;
        return now == 0 ? compute(store_, a, b) : compute(store_, a, b, now);
    }
};

}  // namespace hypanda::taint2
