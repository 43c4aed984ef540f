// Sparse byte shadow (shadow.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "shadow.h"

#include <algorithm>

namespace hypanda::taint2 {

TaintByte compute(LabelSetStore& store, TaintByte a, TaintByte b) {
    if (!a.tainted() && !b.tainted()) {
        return {};
    }
    uint32_t tcn = 0;
    if (a.tainted()) {
        tcn = a.tcn;
    }
    if (b.tainted()) {
        tcn = std::max(tcn, b.tcn);
    }
    return {store.unite(a.labels, b.labels), tcn + 1};
}

TaintByte compute(LabelSetStore& store, TaintByte a, TaintByte b, uint32_t now) {
    if (!a.tainted() && !b.tainted()) {
        return {};
    }
    uint32_t tcn = 0;
    for (const TaintByte& x : {a, b}) {
        if (x.tainted()) {
            tcn = std::max(tcn, x.at == now ? x.tcn : x.tcn + 1);
        }
    }
    return {store.unite(a.labels, b.labels), tcn, now};
}

void Shadow::set(uint64_t addr, TaintByte b) {
    const uint64_t page = addr >> kPageBits, i = addr & (kPageSize - 1);
    Page* found = find(page);
    if (found == nullptr) {
        if (!b.tainted()) {
            return;
        }
        found = pages_.emplace(page, std::make_unique<Page>()).first->second.get();
        last_page_ = page;
        last_ = found;
    }
    Page& p = *found;
    const bool was = p.labels[i] != nullptr;
    p.labels[i] = b.labels;
    p.tcn[i] = b.tainted() ? b.tcn : 0;
    p.at[i] = b.tainted() ? b.at : 0;
    if (was == b.tainted()) {
        return;
    }
    if (b.tainted()) {
        p.tainted++;
        tainted_++;
        return;
    }
    p.tainted--;
    tainted_--;
    if (p.tainted == 0) {
        pages_.erase(page);
        last_ = nullptr;  // last_page_ is this page: now absent
    }
}

void Shadow::set_range(uint64_t addr, uint64_t len, TaintByte b) {
    if (!b.tainted()) {
        clear(addr, len);
        return;
    }
    for (uint64_t k = 0; k < len; k++) {
        set(addr + k, b);
    }
}

template <typename Fn>
void Shadow::each_present_page(uint64_t addr, uint64_t len, Fn fn) const {
    // Only the pages that exist: a large untainted range costs one lookup
    // per page. `last` is inclusive, so a range ending at the top of the
    // address space does not wrap to 0.
    if (len == 0) {
        return;
    }
    const uint64_t last = addr + (len - 1);
    for (uint64_t a = addr;;) {
        const uint64_t page_last = a | (kPageSize - 1);
        const uint64_t hi = std::min(page_last, last);
        if (find(a >> kPageBits) != nullptr && fn(a, hi)) {
            return;
        }
        if (hi == last) {
            return;
        }
        a = hi + 1;
    }
}

void Shadow::clear_tainted(uint64_t addr, uint64_t len) {
    each_present_page(addr, len, [this](uint64_t lo, uint64_t hi) {
        for (uint64_t k = lo;; k++) {
            set(k, {});
            if (k == hi) {
                return false;
            }
        }
    });
}

bool Shadow::any_tainted(uint64_t addr, uint64_t len) const {
    bool found = false;
    each_present_page(addr, len, [this, &found](uint64_t lo, uint64_t hi) {
        for (uint64_t k = lo; !found; k++) {
            found = get(k).tainted();
            if (k == hi) {
                break;
            }
        }
        return found;
    });
    return found;
}

void copy(Shadow& dst, uint64_t d, const Shadow& src, uint64_t s, uint64_t len) {
    const bool backwards = &dst == &src && d > s && d - s < len;
    for (uint64_t k = 0; k < len; k++) {
        const uint64_t off = backwards ? len - 1 - k : k;
        dst.set(d + off, src.get(s + off));
    }
}

}  // namespace hypanda::taint2
