// Interned label sets (label_set.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "label_set.h"

#include <algorithm>
#include <iterator>

namespace hypanda::taint2 {
namespace {

size_t hash_labels(const std::vector<Label>& labels) {
    // FNV-1a over the labels' values.
    uint64_t h = 14695981039346656037ull;
    for (Label l : labels) {
        for (int i = 0; i < 4; i++) {
            h ^= (l >> (8 * i)) & 0xff;
            h *= 1099511628211ull;
        }
    }
    return static_cast<size_t>(h);
}

}  // namespace

bool LabelSet::contains(Label l) const {
    return std::binary_search(labels_.begin(), labels_.end(), l);
}

size_t LabelSetStore::PairHash::operator()(
    const std::pair<const LabelSet*, const LabelSet*>& p) const {
    auto a = reinterpret_cast<uintptr_t>(p.first), b = reinterpret_cast<uintptr_t>(p.second);
    return static_cast<size_t>(a * 0x9e3779b97f4a7c15ull ^ (b + (a << 6) + (a >> 2)));
}

const LabelSet* LabelSetStore::intern(std::vector<Label> sorted_unique) {
    if (sorted_unique.empty()) {
        return nullptr;
    }
    const size_t hash = hash_labels(sorted_unique);
    auto candidate = std::unique_ptr<LabelSet>(new LabelSet(std::move(sorted_unique), hash));
    auto [it, inserted] = sets_.insert(std::move(candidate));
    return it->get();
}

const LabelSet* LabelSetStore::single(Label l) {
    auto it = singles_.find(l);
    if (it != singles_.end()) {
        return it->second;
    }
    const LabelSet* s = intern({l});
    singles_.emplace(l, s);
    return s;
}

const LabelSet* LabelSetStore::make(std::vector<Label> labels) {
    std::sort(labels.begin(), labels.end());
    labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
    return intern(std::move(labels));
}

const LabelSet* LabelSetStore::unite(const LabelSet* a, const LabelSet* b) {
    if (a == nullptr || a == b) {
        return b;
    }
    if (b == nullptr) {
        return a;
    }
    if (a > b) {
        std::swap(a, b);  // the union is symmetric: one entry for both orders
    }
    auto key = std::make_pair(a, b);
    auto it = unions_.find(key);
    if (it != unions_.end()) {
        return it->second;
    }
    std::vector<Label> both;
    both.reserve(a->size() + b->size());
    std::set_union(a->labels().begin(), a->labels().end(), b->labels().begin(), b->labels().end(),
                   std::back_inserter(both));
    const LabelSet* u = intern(std::move(both));
    unions_.emplace(key, u);
    return u;
}

}  // namespace hypanda::taint2
