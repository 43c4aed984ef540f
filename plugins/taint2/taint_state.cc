// The taint engine's operations (taint_state.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "taint_state.h"

#include <algorithm>
#include <vector>

namespace hypanda::taint2 {

void TaintState::set(Place p, TaintByte b) {
    Shadow& s = shadow_mut(p.space);
    if (p.space != Space::kRam) {
        s.set(p.addr, b);
        return;
    }
    const TaintByte was = s.get(p.addr);
    if (was == b) {
        return;
    }
    s.set(p.addr, b);
    if (!ram_changed_ || was.same_taint(b)) {
        return;
    }
    if (changed_len_ > 0 && p.addr == changed_first_ + changed_len_) {
        changed_len_++;
        return;
    }
    flush_ram_changes();
    changed_first_ = p.addr;
    changed_len_ = 1;
}

void TaintState::flush_ram_changes() {
    if (changed_len_ > 0 && ram_changed_) {
        ram_changed_(changed_first_, changed_len_);
    }
    changed_len_ = 0;
}

void TaintState::label_positional(Place p, uint64_t n, Label first) {
    for (uint64_t k = 0; k < n; k++) {
        set({p.space, p.addr + k}, {store_.single(first + static_cast<Label>(k)), 0});
    }
    flush_ram_changes();
}

void TaintState::label_all(Place p, uint64_t n, Label label) {
    const TaintByte b{store_.single(label), 0};
    for (uint64_t k = 0; k < n; k++) {
        set({p.space, p.addr + k}, b);
    }
    flush_ram_changes();
}

void TaintState::clear(Place dst, uint64_t n) {
    if (dst.space != Space::kRam || !ram_changed_) {
        shadow_mut(dst.space).clear(dst.addr, n);  // skips untainted pages
        return;
    }
    if (!shadow(dst.space).any(dst.addr, n)) {
        return;
    }
    for (uint64_t k = 0; k < n; k++) {
        set({dst.space, dst.addr + k}, {});
    }
    flush_ram_changes();
}

namespace {

// Room for an operation's result bytes: on the stack for a value's size
// (the instrumented code's case), on the heap beyond.
class ResultBytes {
public:
    explicit ResultBytes(uint64_t n)
        : bytes_(n <= kInline ? inline_ : (heap_.resize(n), heap_.data())) {}
    TaintByte& operator[](uint64_t k) { return bytes_[k]; }

private:
    static constexpr uint64_t kInline = 64;
    TaintByte inline_[kInline];
    std::vector<TaintByte> heap_;
    TaintByte* bytes_;
};

}  // namespace

void TaintState::copy(Place dst, Place src, uint64_t n) {
    if (!shadow(src.space).any(src.addr, n)) {
        clear(dst, n);  // cheap where dst is clean already
        return;
    }
    // Read first: the two ranges may overlap.
    ResultBytes bytes(n);
    for (uint64_t k = 0; k < n; k++) {
        bytes[k] = get({src.space, src.addr + k});
    }
    for (uint64_t k = 0; k < n; k++) {
        set({dst.space, dst.addr + k}, bytes[k]);
    }
    flush_ram_changes();
}

void TaintState::parallel(Place dst, Place a, Place b, uint64_t n) {
    if (!shadow(a.space).any(a.addr, n) && !shadow(b.space).any(b.addr, n)) {
        clear(dst, n);
        return;
    }
    ResultBytes bytes(n);
    for (uint64_t k = 0; k < n; k++) {
        bytes[k] = computed(get({a.space, a.addr + k}), get({b.space, b.addr + k}));
    }
    for (uint64_t k = 0; k < n; k++) {
        set({dst.space, dst.addr + k}, bytes[k]);
    }
    flush_ram_changes();
}

void TaintState::mix(Place dst, uint64_t n, Place a, uint64_t n_a, Place b, uint64_t n_b) {
    // Each operand's bytes taken together, then compute()'s rule.
    const TaintByte r = computed(as_input(a, n_a), as_input(b, n_b));
    if (!r.tainted()) {
        clear(dst, n);
        return;
    }
    for (uint64_t k = 0; k < n; k++) {
        set({dst.space, dst.addr + k}, r);
    }
    flush_ram_changes();
}

TaintByte TaintState::summarize(Place p, uint64_t n) {
    TaintByte r;
    for (uint64_t k = 0; k < n; k++) {
        const TaintByte t = get({p.space, p.addr + k});
        if (t.tainted()) {
            r.tcn = r.tainted() ? std::max(r.tcn, t.tcn) : t.tcn;
            r.labels = store_.unite(r.labels, t.labels);
        }
    }
    return r;
}

void TaintState::branch(void* env, uint64_t slot, uint64_t n, uint64_t pc, Transfer kind) {
    if (!branch_ || !shadow(Space::kSlot).any(slot, n)) {
        return;
    }
    branch_(env, pc, kind, summarize({Space::kSlot, slot}, n));
}

TaintByte TaintState::as_input(Place p, uint64_t n) {
    if (!shadow(p.space).any(p.addr, n)) {
        return {};
    }
    const uint32_t now = *counter_;
    const LabelSet* labels = nullptr;
    uint32_t best = 0;  // the largest number compute() would give from one byte
    bool tainted = false;
    for (uint64_t k = 0; k < n; k++) {
        const TaintByte t = get({p.space, p.addr + k});
        if (t.tainted()) {
            labels = store_.unite(labels, t.labels);
            best = std::max(best, now != 0 && t.at == now ? t.tcn : t.tcn + 1);
            tainted = true;
        }
    }
    if (!tainted) {
        return {};
    }
    // A byte compute() takes to `best`: in this instruction, `best` itself;
    // counting per operation, one less.
    return now != 0 ? TaintByte{labels, best, now} : TaintByte{labels, best - 1, 0};
}

std::optional<TaintByte> TaintState::tainted_address(void* env, uint64_t addr_slot, uint64_t pc,
                                                     uint64_t vaddr, uint64_t size, bool is_store) {
    if (!shadow(Space::kSlot).any(addr_slot, 8)) {
        return std::nullopt;
    }
    const TaintByte address = as_input({Space::kSlot, addr_slot}, 8);
    if (pointer_) {
        pointer_(env, pc, vaddr, size, is_store, address);
    }
    if (!tainted_pointers_) {
        return std::nullopt;
    }
    return address;
}

namespace {

// QEMU's MemOp bits (include/exec/memop.h) in a MemOpIdx (op << 4 | idx).
constexpr uint32_t kMemOpSize = 0x07, kMemOpSign = 0x08;
// The largest access a MemOp describes (MO_128).
constexpr uint64_t kMaxAccess = 16;

}  // namespace

void TaintState::physical(void* env, uint64_t vaddr, uint64_t n, uint32_t oi, bool is_write,
                          std::optional<uint64_t>* pa) const {
    // An access is at most 16 bytes: two pages at most; each translated
    // once.
    std::optional<uint64_t> page_pa;
    uint64_t page = 0;
    for (uint64_t k = 0; k < n; k++) {
        const uint64_t va = vaddr + k;
        if (k == 0 || (va >> Shadow::kPageBits) != page) {
            page = va >> Shadow::kPageBits;
            page_pa = translate_ ? translate_(env, va, oi, is_write) : std::nullopt;
            if (page_pa) {
                *page_pa -= va & (Shadow::kPageSize - 1);  // the page's start
            }
        }
        pa[k] = page_pa ? std::optional<uint64_t>(*page_pa + (va & (Shadow::kPageSize - 1)))
                        : std::nullopt;
    }
}

void TaintState::guest_load(uint64_t dst_slot, uint64_t n, void* env, uint64_t vaddr, uint32_t oi,
                            uint64_t addr_slot, uint64_t pc) {
    const uint32_t op = oi >> 4;
    const uint64_t size = std::min<uint64_t>({uint64_t{1} << (op & kMemOpSize), n, kMaxAccess});
    const auto address = tainted_address(env, addr_slot, pc, vaddr, size, false);
    if (shadow(Space::kRam).tainted_bytes() == 0) {
        // Nothing in RAM is tainted: no need to know where the bytes were.
        if (address) {
            const TaintByte b = computed({}, *address);
            for (uint64_t k = 0; k < size; k++) {
                set({Space::kSlot, dst_slot + k}, b);
            }
        } else {
            clear({Space::kSlot, dst_slot}, size);
        }
    } else {
        std::optional<uint64_t> pa[kMaxAccess];
        physical(env, vaddr, size, oi, false, pa);
        for (uint64_t k = 0; k < size; k++) {
            const TaintByte b = pa[k] ? get({Space::kRam, *pa[k]}) : TaintByte{};
            set({Space::kSlot, dst_slot + k}, address ? computed(b, *address) : b);
        }
    }
    if (n > size && (op & kMemOpSign) != 0) {
        mix({Space::kSlot, dst_slot + size}, n - size, {Space::kSlot, dst_slot + size - 1}, 1,
            {Space::kSlot, 0}, 0);
    } else if (n > size) {
        clear({Space::kSlot, dst_slot + size}, n - size);
    }
    if (access_ && shadow(Space::kSlot).any(dst_slot, size)) {
        access_(env, pc, vaddr, size, false, summarize({Space::kSlot, dst_slot}, size));
    }
}

void TaintState::guest_store(void* env, uint64_t vaddr, uint64_t src_slot, uint32_t oi,
                             uint64_t addr_slot, uint64_t pc) {
    const uint64_t size = std::min<uint64_t>(uint64_t{1} << ((oi >> 4) & kMemOpSize), kMaxAccess);
    const auto address = tainted_address(env, addr_slot, pc, vaddr, size, true);
    if (!address && shadow(Space::kRam).tainted_bytes() == 0 &&
        !shadow(Space::kSlot).any(src_slot, size)) {
        return;  // clean bytes over clean RAM
    }
    std::optional<uint64_t> pa[kMaxAccess];
    physical(env, vaddr, size, oi, true, pa);
    TaintByte stored;  // what the stored bytes carry together
    for (uint64_t k = 0; k < size; k++) {
        const TaintByte b = get({Space::kSlot, src_slot + k});
        const TaintByte t = address ? computed(b, *address) : b;
        if (pa[k]) {
            set({Space::kRam, *pa[k]}, t);
        }
        if (t.tainted()) {
            stored.tcn = stored.tainted() ? std::max(stored.tcn, t.tcn) : t.tcn;
            stored.labels = store_.unite(stored.labels, t.labels);
        }
    }
    flush_ram_changes();
    if (access_ && stored.tainted()) {
        access_(env, pc, vaddr, size, true, stored);
    }
}

void TaintState::through_address(Place dst, uint64_t n, uint64_t addr_slot) {
    if (!tainted_pointers_ || !shadow(Space::kSlot).any(addr_slot, 8)) {
        return;
    }
    const TaintByte address = as_input({Space::kSlot, addr_slot}, 8);
    for (uint64_t k = 0; k < n; k++) {
        set({dst.space, dst.addr + k}, computed(get({dst.space, dst.addr + k}), address));
    }
    flush_ram_changes();
}

void TaintState::host_load(uint64_t dst_slot, uint64_t n, const void* ptr, uint64_t addr_slot) {
    copy({Space::kSlot, dst_slot}, host_place(ptr), n);
    through_address({Space::kSlot, dst_slot}, n, addr_slot);
}

void TaintState::host_store(const void* ptr, uint64_t src_slot, uint64_t n, uint64_t addr_slot) {
    const Place dst = host_place(ptr);
    copy(dst, {Space::kSlot, src_slot}, n);
    through_address(dst, n, addr_slot);
}

}  // namespace hypanda::taint2
