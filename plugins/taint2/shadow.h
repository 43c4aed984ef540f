// Shadow state for taint2 (docs/taint.md): for each byte of an address
// space (guest physical RAM, the CPU's registers by their offset in the
// CPU state, an I/O buffer), its label set and taint-compute number.
// Sparse: a 4 KiB page of shadow is made when its first byte is tainted and
// freed when its last is cleared, so a 16 GiB guest costs only what is
// tainted (64 KiB of shadow per tainted 4 KiB page).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "label_set.h"

namespace hypanda::taint2 {

// A byte's taint: its labels (nullptr: untainted) and its taint-compute
// number, how many computations separate it from its labelled source (0 at
// the source; copies keep it; a computation gives one more than the
// largest of its tainted inputs). When computations are counted per guest
// instruction, `at` is the instruction (a running count from 1) whose
// computation gave the number, so that the steps of one guest instruction
// count once; 0: none (a source, or counting per operation).
struct TaintByte {
    const LabelSet* labels = nullptr;
    uint32_t tcn = 0;
    uint32_t at = 0;

    bool tainted() const { return labels != nullptr; }
    // The same labels and number (what a change of taint is about).
    bool same_taint(const TaintByte& o) const { return labels == o.labels && tcn == o.tcn; }
    bool operator==(const TaintByte& o) const { return same_taint(o) && at == o.at; }
};

// The taint of a value computed from a and b: the union of their labels,
// and one more than the larger compute number of the tainted ones. Untainted
// inputs give an untainted result.
TaintByte compute(LabelSetStore& store, TaintByte a, TaintByte b);
// The same within guest instruction `now` (from 1): an input this
// instruction computed already (at == now) adds nothing more to the number;
// the result is at `now`.
TaintByte compute(LabelSetStore& store, TaintByte a, TaintByte b, uint32_t now);

class Shadow {
public:
    static constexpr uint64_t kPageBits = 12;
    static constexpr uint64_t kPageSize = uint64_t{1} << kPageBits;

    TaintByte get(uint64_t addr) const {
        const Page* p = find(addr >> kPageBits);
        if (p == nullptr) {
            return {};
        }
        const uint64_t i = addr & (kPageSize - 1);
        return {p->labels[i], p->tcn[i], p->at[i]};
    }
    // An untainted `b` clears the byte.
    void set(uint64_t addr, TaintByte b);
    void set_range(uint64_t addr, uint64_t len, TaintByte b);
    void clear(uint64_t addr, uint64_t len) {
        if (tainted_ != 0) {
            clear_tainted(addr, len);
        }
    }
    // Whether any byte of [addr, addr + len) is tainted.
    bool any(uint64_t addr, uint64_t len) const { return tainted_ != 0 && any_tainted(addr, len); }

    uint64_t tainted_bytes() const { return tainted_; }
    size_t pages() const { return pages_.size(); }
    // What the shadow's pages take (the map's own nodes aside).
    uint64_t resident_bytes() const { return pages_.size() * sizeof(Page); }

private:
    struct Page {
        std::array<const LabelSet*, kPageSize> labels{};
        std::array<uint32_t, kPageSize> tcn{};
        std::array<uint32_t, kPageSize> at{};
        uint32_t tainted = 0;
    };
    // clear() and any() where some byte is tainted.
    void clear_tainted(uint64_t addr, uint64_t len);
    bool any_tainted(uint64_t addr, uint64_t len) const;
    // The page's shadow, or nullptr; the last page asked for is
    // remembered (present or not): the instrumented code works on a few
    // pages — the block's slots, the CPU state — over and over.
    Page* find(uint64_t page) const {
        if (page != last_page_) {
            auto it = pages_.find(page);
            last_page_ = page;
            last_ = it == pages_.end() ? nullptr : it->second.get();
        }
        return last_;
    }
    // Calls fn(lo, hi) (hi inclusive) for each part of [addr, addr + len)
    // on a page that exists, in order, until fn returns true.
    template <typename Fn>
    void each_present_page(uint64_t addr, uint64_t len, Fn fn) const;

    std::unordered_map<uint64_t, std::unique_ptr<Page>> pages_;
    mutable uint64_t last_page_ =
        UINT64_MAX;  // none yet (page numbers stop at UINT64_MAX >> kPageBits)
    mutable Page* last_ = nullptr;
    uint64_t tainted_ = 0;
};

// Copies the taint of src's [s, s + len) to dst's [d, d + len), as memmove
// does: right also when dst and src are one shadow and the ranges overlap.
void copy(Shadow& dst, uint64_t d, const Shadow& src, uint64_t s, uint64_t len);

}  // namespace hypanda::taint2
