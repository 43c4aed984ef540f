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
    if (s.get(p.addr) == b) {
        return;
    }
    s.set(p.addr, b);
    if (!ram_changed_) {
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

void TaintState::copy(Place dst, Place src, uint64_t n) {
    // Read first: the two ranges may overlap.
    std::vector<TaintByte> bytes(n);
    for (uint64_t k = 0; k < n; k++) {
        bytes[k] = get({src.space, src.addr + k});
    }
    for (uint64_t k = 0; k < n; k++) {
        set({dst.space, dst.addr + k}, bytes[k]);
    }
    flush_ram_changes();
}

void TaintState::parallel(Place dst, Place a, Place b, uint64_t n) {
    std::vector<TaintByte> bytes(n);
    for (uint64_t k = 0; k < n; k++) {
        bytes[k] = compute(store_, get({a.space, a.addr + k}), get({b.space, b.addr + k}));
    }
    for (uint64_t k = 0; k < n; k++) {
        set({dst.space, dst.addr + k}, bytes[k]);
    }
    flush_ram_changes();
}

void TaintState::mix(Place dst, uint64_t n, Place a, uint64_t n_a, Place b, uint64_t n_b) {
    const LabelSet* labels = nullptr;
    uint32_t tcn = 0;
    bool tainted = false;
    auto take = [&](Place p, uint64_t len) {
        for (uint64_t k = 0; k < len; k++) {
            const TaintByte t = get({p.space, p.addr + k});
            if (t.tainted()) {
                labels = store_.unite(labels, t.labels);
                tcn = tainted ? std::max(tcn, t.tcn) : t.tcn;
                tainted = true;
            }
        }
    };
    take(a, n_a);
    take(b, n_b);
    const TaintByte r = tainted ? TaintByte{labels, tcn + 1} : TaintByte{};
    for (uint64_t k = 0; k < n; k++) {
        set({dst.space, dst.addr + k}, r);
    }
    flush_ram_changes();
}

}  // namespace hypanda::taint2
