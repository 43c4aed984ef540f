// Label sets for taint2 (docs/taint.md): the set of input labels a tainted
// byte derives from. Sets are interned: equal sets are one object, so a
// byte's shadow holds one pointer, comparing sets is comparing pointers,
// and the union of two sets, computed once, is remembered. nullptr is the
// empty set (an untainted byte).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace hypanda::taint2 {

using Label = uint32_t;

class LabelSet {
public:
    // The labels, in ascending order, each once.
    const std::vector<Label>& labels() const { return labels_; }
    size_t size() const { return labels_.size(); }
    bool contains(Label l) const;

private:
    friend class LabelSetStore;
    explicit LabelSet(std::vector<Label> labels, size_t hash)
        : labels_(std::move(labels)), hash_(hash) {}
    std::vector<Label> labels_;
    size_t hash_;
};

// Owns every set it hands out; a set lives as long as its store. Not
// thread-safe: taint runs on the vCPU thread.
class LabelSetStore {
public:
    // {l}.
    const LabelSet* single(Label l);
    // The set holding `labels` (any order, repeats allowed); nullptr for none.
    const LabelSet* make(std::vector<Label> labels);
    // a ∪ b. Either may be nullptr (the empty set).
    const LabelSet* unite(const LabelSet* a, const LabelSet* b);

    // Distinct sets made so far, and unions remembered.
    size_t sets() const { return sets_.size(); }
    size_t unions() const { return unions_.size(); }

private:
    struct PairHash {
        size_t operator()(const std::pair<const LabelSet*, const LabelSet*>& p) const;
    };
    struct SetHash {
        size_t operator()(const std::unique_ptr<LabelSet>& s) const { return s->hash_; }
    };
    struct SetEqual {
        bool operator()(const std::unique_ptr<LabelSet>& a,
                        const std::unique_ptr<LabelSet>& b) const {
            return a->labels_ == b->labels_;
        }
    };
    const LabelSet* intern(std::vector<Label> sorted_unique);

    std::unordered_set<std::unique_ptr<LabelSet>, SetHash, SetEqual> sets_;
    std::unordered_map<std::pair<const LabelSet*, const LabelSet*>, const LabelSet*, PairHash>
        unions_;
    std::unordered_map<Label, const LabelSet*> singles_;
};

}  // namespace hypanda::taint2
