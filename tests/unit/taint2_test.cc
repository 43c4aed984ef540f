// taint2's label sets and byte shadow (plugins/taint2), against models made
// of std::set and std::map.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "label_set.h"
#include "shadow.h"
#include "taint_state.h"

namespace hypanda::taint2 {
namespace {

std::vector<Label> as_vector(const LabelSet* s) {
    return s == nullptr ? std::vector<Label>{} : s->labels();
}

TEST(LabelSets, EqualSetsAreOneObjectAndTheEmptySetIsNull) {
    LabelSetStore store;
    const LabelSet* a = store.make({3, 1, 2, 2, 3});
    EXPECT_EQ(a, store.make({1, 2, 3}));
    EXPECT_EQ(a->labels(), (std::vector<Label>{1, 2, 3}));
    EXPECT_TRUE(a->contains(2));
    EXPECT_FALSE(a->contains(4));
    EXPECT_EQ(store.make({}), nullptr);
    EXPECT_EQ(store.single(7), store.make({7}));
    EXPECT_EQ(store.sets(), 2u);
}

TEST(LabelSets, UnionEqualsTheSetUnionAndIsRememberedOncePerPair) {
    LabelSetStore store;
    std::mt19937 rng(1234);
    std::vector<const LabelSet*> pool = {nullptr};
    std::vector<std::set<Label>> model = {{}};
    for (int i = 0; i < 60; i++) {
        std::set<Label> labels;
        const int n = 1 + static_cast<int>(rng() % 5);
        for (int k = 0; k < n; k++) {
            labels.insert(rng() % 40);
        }
        pool.push_back(store.make(std::vector<Label>(labels.begin(), labels.end())));
        model.push_back(labels);
    }
    std::set<std::pair<const LabelSet*, const LabelSet*>>
        pairs;  // distinct non-trivial pairs asked
    for (int i = 0; i < 3000; i++) {
        const size_t x = rng() % pool.size(), y = rng() % pool.size();
        const LabelSet* u = store.unite(pool[x], pool[y]);
        std::set<Label> want;
        std::set_union(model[x].begin(), model[x].end(), model[y].begin(), model[y].end(),
                       std::inserter(want, want.end()));
        ASSERT_EQ(as_vector(u), std::vector<Label>(want.begin(), want.end()))
            << "sets " << x << " and " << y;
        ASSERT_EQ(u, store.unite(pool[y], pool[x]));
        ASSERT_EQ(u, store.make(std::vector<Label>(want.begin(), want.end())));
        if (pool[x] != nullptr && pool[y] != nullptr && pool[x] != pool[y]) {
            pairs.insert(std::minmax(pool[x], pool[y]));
        }
        pool.push_back(u);
        model.push_back(want);
    }
    EXPECT_EQ(store.unions(), pairs.size());
}

TEST(TaintCompute, UnitesLabelsAndCountsOneMoreThanTheLargestInput) {
    LabelSetStore store;
    const TaintByte a{store.single(1), 0}, b{store.single(2), 5}, none{};
    EXPECT_EQ(compute(store, none, none), none);
    EXPECT_EQ(compute(store, a, none), (TaintByte{store.single(1), 1}));
    EXPECT_EQ(compute(store, none, b), (TaintByte{store.single(2), 6}));
    EXPECT_EQ(compute(store, a, b), (TaintByte{store.make({1, 2}), 6}));
    EXPECT_EQ(compute(store, b, b), (TaintByte{store.single(2), 6}));
}

// Random ranges, some across page boundaries, some at the top of the
// address space, set, cleared, copied (overlapping too, and from a second
// shadow) and combined; after each step every byte of the windows and the
// counts equal a map of address to taint.
TEST(Shadow, EveryStepEqualsAMapOfAddressToTaint) {
    LabelSetStore store;
    Shadow shadow, other;
    std::map<uint64_t, TaintByte> model, other_model;
    std::mt19937_64 rng(42);
    const uint64_t bases[] = {0x0ff0, 0x7ffff000, UINT64_MAX - 3 * Shadow::kPageSize + 1};
    const uint64_t window = 3 * Shadow::kPageSize;
    auto model_set = [](std::map<uint64_t, TaintByte>& m, uint64_t a, TaintByte b) {
        if (b.tainted()) {
            m[a] = b;
        } else {
            m.erase(a);
        }
    };
    auto model_get = [](const std::map<uint64_t, TaintByte>& m, uint64_t a) {
        auto it = m.find(a);
        return it == m.end() ? TaintByte{} : it->second;
    };
    auto pick = [&](uint64_t* addr, uint64_t* len) {
        const uint64_t base = bases[rng() % 3];
        *len = 1 + rng() % 300;
        *addr = base + rng() % (window - *len + 1);
    };
    for (int step = 0; step < 400; step++) {
        uint64_t a = 0, len = 0;
        pick(&a, &len);
        switch (rng() % 5) {
            case 0: {  // label a buffer, one label per byte
                const Label first = static_cast<Label>(rng() % 1000);
                for (uint64_t k = 0; k < len; k++) {
                    const TaintByte b{store.single(first + static_cast<Label>(k)), 0};
                    shadow.set(a + k, b);
                    model_set(model, a + k, b);
                }
                break;
            }
            case 1: {  // one taint over a range, or clear it
                const TaintByte b =
                    rng() % 3 == 0 ? TaintByte{} : TaintByte{store.make({1, 2, 3}), 4};
                shadow.set_range(a, len, b);
                for (uint64_t k = 0; k < len; k++) {
                    model_set(model, a + k, b);
                }
                break;
            }
            case 2: {  // memmove inside the shadow, often overlapping
                uint64_t d = a + (rng() % 64) - 32;
                if (d > a + window || d + len < d) {
                    d = a;
                }
                copy(shadow, d, shadow, a, len);
                std::vector<TaintByte> tmp;
                for (uint64_t k = 0; k < len; k++) {
                    tmp.push_back(model_get(model, a + k));
                }
                for (uint64_t k = 0; k < len; k++) {
                    model_set(model, d + k, tmp[k]);
                }
                break;
            }
            case 3: {  // from another shadow (registers to RAM)
                const uint64_t s = rng() % 64;
                copy(shadow, a, other, s, len);
                for (uint64_t k = 0; k < len; k++) {
                    model_set(model, a + k, model_get(other_model, s + k));
                }
                break;
            }
            default: {  // each byte combined with the one 8 below it; the other shadow gets some
                        // too
                for (uint64_t k = 0; k < len; k++) {
                    const uint64_t x = a + k, y = x - 8;
                    const TaintByte r = compute(store, shadow.get(x), shadow.get(y));
                    ASSERT_EQ(r, compute(store, model_get(model, x), model_get(model, y)));
                    shadow.set(x, r);
                    model_set(model, x, r);
                }
                const uint64_t o = rng() % 64;
                const TaintByte b{store.single(5000 + static_cast<Label>(o)), 2};
                other.set(o, b);
                model_set(other_model, o, b);
                break;
            }
        }
        ASSERT_EQ(shadow.tainted_bytes(), model.size()) << "step " << step;
        std::set<uint64_t> pages;
        for (const auto& [addr, b] : model) {
            pages.insert(addr >> Shadow::kPageBits);
        }
        ASSERT_EQ(shadow.pages(), pages.size()) << "step " << step;
        for (uint64_t base : bases) {
            for (uint64_t k = 0; k < window; k++) {
                ASSERT_EQ(shadow.get(base + k), model_get(model, base + k))
                    << "step " << step << " address 0x" << std::hex << base + k;
            }
        }
    }
}

// Positional labels on 1 MiB of a 4 GiB space: 256 pages of shadow, each
// byte its own label; one clear of the whole space frees them all.
TEST(Shadow, CostsOnlyWhatIsTainted) {
    LabelSetStore store;
    Shadow ram;
    const uint64_t start = 3ull << 30, size = 1ull << 20;
    for (uint64_t k = 0; k < size; k++) {
        ram.set(start + k, {store.single(static_cast<Label>(k)), 0});
    }
    EXPECT_EQ(ram.tainted_bytes(), size);
    EXPECT_EQ(ram.pages(), 256u);
    EXPECT_EQ(ram.resident_bytes(),
              256u * (Shadow::kPageSize * (sizeof(void*) + 2 * sizeof(uint32_t)) + 8));
    EXPECT_EQ(as_vector(ram.get(start + 0x12345).labels), std::vector<Label>{0x12345});
    EXPECT_FALSE(ram.any(0, start));
    EXPECT_TRUE(ram.any(0, start + 1));
    EXPECT_FALSE(ram.get(start - 1).tainted());
    EXPECT_FALSE(ram.get(start + size).tainted());
    ram.clear(0, 4ull << 30);
    EXPECT_EQ(ram.tainted_bytes(), 0u);
    EXPECT_EQ(ram.pages(), 0u);
}

TEST(Shadow, TheLastByteOfTheAddressSpaceCanBeTaintedAndCleared) {
    LabelSetStore store;
    Shadow s;
    s.set(UINT64_MAX, {store.single(9), 0});
    EXPECT_TRUE(s.any(UINT64_MAX - 10, 11));
    s.clear(UINT64_MAX - Shadow::kPageSize + 1, Shadow::kPageSize);
    EXPECT_EQ(s.pages(), 0u);
}

}  // namespace
}  // namespace hypanda::taint2

namespace hypanda::taint2 {
namespace {

std::set<Label> labels_of(const TaintState& t, Place p) {
    const LabelSet* s = t.get(p).labels;
    return s == nullptr ? std::set<Label>{}
                        : std::set<Label>(s->labels().begin(), s->labels().end());
}

// A few instructions' worth of data flow, worked out by hand: a labelled
// input loaded into a register, xored with a clean one, added to one with
// a tainted byte, stored; and the RAM changes reported along the way.
TEST(TaintState, AHandWorkedFlowGivesTheExpectedLabelsAndComputeNumbers) {
    TaintState t;
    std::vector<std::pair<uint64_t, uint64_t>> changes;
    t.on_ram_change([&](uint64_t a, uint64_t n) { changes.emplace_back(a, n); });
    const Place input{Space::kRam, 0x1000}, rax{Space::kEnv, 0}, rbx{Space::kEnv, 8},
        rcx{Space::kEnv, 16};

    t.label_positional(input, 8, 0);  // input[k] = {k}, tcn 0
    t.copy(rax, input, 8);            // mov rax, [input]
    EXPECT_EQ(labels_of(t, {Space::kEnv, 5}), std::set<Label>{5});
    EXPECT_EQ(t.get({Space::kEnv, 5}).tcn, 0u);
    t.parallel(rax, rax, rbx, 8);  // xor rax, rbx (rbx clean)
    EXPECT_EQ(labels_of(t, {Space::kEnv, 3}), std::set<Label>{3});
    EXPECT_EQ(t.get({Space::kEnv, 3}).tcn, 1u);
    t.label_all({Space::kEnv, 16}, 1, 100);        // rcx's low byte {100}
    t.mix(rcx, 8, rcx, 8, {Space::kEnv, 100}, 0);  // rcx = rcx * 3: every byte {100}, tcn 1
    t.mix(rcx, 8, rcx, 8, {Space::kEnv, 100}, 0);  // again: tcn 2
    t.mix(rcx, 8, rcx, 8, {Space::kEnv, 100}, 0);  // tcn 3
    EXPECT_EQ(t.get({Space::kEnv, 23}).tcn, 3u);
    t.mix(rax, 8, rax, 8, rcx, 8);  // add rax, rcx
    std::set<Label> all = {0, 1, 2, 3, 4, 5, 6, 7, 100};
    for (uint64_t k = 0; k < 8; k++) {
        EXPECT_EQ(labels_of(t, {Space::kEnv, k}), all);
        EXPECT_EQ(t.get({Space::kEnv, k}).tcn, 4u);  // max(1, 3) + 1
    }
    t.copy({Space::kRam, 0x2000}, rax, 2);  // mov [0x2000], ax
    EXPECT_EQ(labels_of(t, {Space::kRam, 0x2001}), all);
    EXPECT_EQ(t.get({Space::kRam, 0x2001}).tcn, 4u);
    EXPECT_FALSE(t.get({Space::kRam, 0x2002}).tainted());
    t.copy({Space::kRam, 0x2000}, rax, 2);  // the same again: no change to report
    t.clear({Space::kRam, 0x3000}, 64);     // clean already: none either
    t.clear({Space::kRam, 0x1fff}, 2);      // 0x2000 cleared
    t.mix({Space::kRam, 0x4000}, 4, rbx, 8, {Space::kEnv, 100}, 0);  // clean inputs: clean result
    EXPECT_FALSE(t.get({Space::kRam, 0x4000}).tainted());
    const std::vector<std::pair<uint64_t, uint64_t>> want = {{0x1000, 8}, {0x2000, 2}, {0x2000, 1}};
    EXPECT_EQ(changes, want);
    EXPECT_EQ(t.shadow(Space::kRam).tainted_bytes(), 9u);
}

// Compute numbers counted per guest instruction: the operations of one
// instruction (TCG's extract, operate, deposit; a flag computation) count
// once, whatever their number; the next instruction counts again. Worked
// by hand: xor al, 0x5a as three operations, then add al, bl in the next
// instruction, then a load through an address computed in its own
// instruction and one computed in the previous one.
TEST(TaintState, ComputeNumbersCountEachGuestInstructionOnce) {
    LabelSetStore store;
    const TaintByte a{store.single(1), 0}, none{};
    EXPECT_EQ(compute(store, a, none, 5), (TaintByte{store.single(1), 1, 5}));
    EXPECT_EQ(compute(store, TaintByte{store.single(1), 1, 5}, none, 5),
              (TaintByte{store.single(1), 1, 5}));
    EXPECT_EQ(compute(store, TaintByte{store.single(1), 1, 5}, a, 6),
              (TaintByte{store.single(1), 2, 6}));

    TaintState t;
    std::vector<std::pair<uint64_t, uint64_t>> changes;
    t.on_ram_change([&](uint64_t addr, uint64_t n) { changes.emplace_back(addr, n); });
    const Place rax{Space::kEnv, 0}, rbx{Space::kEnv, 8}, tmp{Space::kSlot, 0},
        mask{Space::kSlot, 16};
    t.label_all(rax, 1, 7);          // al {7}
    t.label_all(rbx, 1, 9);          // bl {9}
    t.next_instruction();            // xor al, 0x5a
    t.parallel(tmp, rax, mask, 8);   // extract (and with a clean mask)
    t.parallel(tmp, tmp, mask, 8);   // xor with the constant
    t.mix(rax, 1, tmp, 1, mask, 0);  // deposit
    EXPECT_EQ(t.get(rax).tcn, 1u);
    t.next_instruction();  // add al, bl
    t.mix(tmp, 1, rax, 1, rbx, 1);
    t.copy(rax, tmp, 1);
    EXPECT_EQ(labels_of(t, rax), (std::set<Label>{7, 9}));
    EXPECT_EQ(t.get(rax).tcn, 2u);  // max(1, 0) + 1
    t.copy({Space::kRam, 0x5000}, rax, 1);
    t.next_instruction();  // the same byte stored again by another instruction
    t.copy({Space::kRam, 0x5000}, rax, 1);

    // Loads through a tainted address (tainted pointers): computed in this
    // instruction, the address adds nothing more; from an earlier one, one.
    t.set_translate([](void*, uint64_t vaddr, uint32_t, bool) { return std::optional<uint64_t>(vaddr); });
    const uint64_t addr_slot = 32, dst_slot = 48;
    const uint32_t oi = 0 << 4;                            // MO_8
    t.next_instruction();                                  // movzbl table(%rax), %ecx
    t.mix({Space::kSlot, addr_slot}, 8, rax, 1, mask, 0);  // the address: {7, 9}, number 3
    EXPECT_EQ(t.get({Space::kSlot, addr_slot}).tcn, 3u);
    t.guest_load(dst_slot, 1, nullptr, 0x9000, oi, addr_slot, 0);
    EXPECT_EQ(labels_of(t, {Space::kSlot, dst_slot}), (std::set<Label>{7, 9}));
    EXPECT_EQ(t.get({Space::kSlot, dst_slot}).tcn, 3u);
    t.next_instruction();  // the address kept in a register, used by the next one
    t.guest_load(dst_slot, 1, nullptr, 0x9000, oi, addr_slot, 0);
    EXPECT_EQ(t.get({Space::kSlot, dst_slot}).tcn, 4u);
    t.set_tainted_pointers(false);  // no_tp: the memory's own taint only (clean)
    t.guest_load(dst_slot, 1, nullptr, 0x9000, oi, addr_slot, 0);
    EXPECT_FALSE(t.get({Space::kSlot, dst_slot}).tainted());

    // Storing the same labels and number again (another instruction) is
    // no change of taint.
    EXPECT_EQ(changes, (std::vector<std::pair<uint64_t, uint64_t>>{{0x5000, 1}}));
}

// Random operations over the four spaces against a map of (space,
// address) to (label set, compute number) written with std::set.
TEST(TaintState, RandomOperationsEqualAModelOfSets) {
    struct Byte {
        std::set<Label> labels;
        uint32_t tcn = 0;
    };
    std::map<std::pair<int, uint64_t>, Byte> model;
    TaintState t;
    std::mt19937_64 rng(7);
    auto place = [&](uint64_t n) {
        return Place{static_cast<Space>(rng() % kSpaces),
                     0x100 * (rng() % 4) + rng() % (0x140 - n)};
    };
    auto get = [&](Place p, uint64_t k) {
        auto it = model.find({static_cast<int>(p.space), p.addr + k});
        return it == model.end() ? Byte{} : it->second;
    };
    auto put = [&](Place p, uint64_t k, const Byte& b) {
        if (b.labels.empty()) {
            model.erase({static_cast<int>(p.space), p.addr + k});
        } else {
            model[{static_cast<int>(p.space), p.addr + k}] = b;
        }
    };
    for (int step = 0; step < 3000; step++) {
        const uint64_t n = 1 + rng() % 16;
        const Place dst = place(n), a = place(n), b = place(n);
        std::vector<Byte> result(n);
        switch (rng() % 6) {
            case 0: {
                const Label first = static_cast<Label>(rng() % 200);
                t.label_positional(dst, n, first);
                for (uint64_t k = 0; k < n; k++) {
                    result[k] = Byte{{first + static_cast<Label>(k)}, 0};
                }
                break;
            }
            case 1:
                t.clear(dst, n);
                break;
            case 2:
                t.copy(dst, a, n);
                for (uint64_t k = 0; k < n; k++) {
                    result[k] = get(a, k);
                }
                break;
            case 3:
                t.parallel(dst, a, b, n);
                for (uint64_t k = 0; k < n; k++) {
                    const Byte x = get(a, k), y = get(b, k);
                    if (x.labels.empty() && y.labels.empty()) {
                        continue;
                    }
                    result[k].labels = x.labels;
                    result[k].labels.insert(y.labels.begin(), y.labels.end());
                    result[k].tcn =
                        std::max(x.labels.empty() ? 0 : x.tcn, y.labels.empty() ? 0 : y.tcn) + 1;
                }
                break;
            default: {
                const uint64_t n_a = 1 + rng() % 8, n_b = rng() % 8;
                t.mix(dst, n, a, n_a, b, n_b);
                Byte all;
                bool tainted = false;
                for (const auto& [p, len] : {std::pair{a, n_a}, std::pair{b, n_b}}) {
                    for (uint64_t k = 0; k < len; k++) {
                        const Byte x = get(p, k);
                        if (!x.labels.empty()) {
                            all.tcn = tainted ? std::max(all.tcn, x.tcn) : x.tcn;
                            tainted = true;
                            all.labels.insert(x.labels.begin(), x.labels.end());
                        }
                    }
                }
                if (tainted) {
                    all.tcn++;
                    std::fill(result.begin(), result.end(), all);
                }
                break;
            }
        }
        for (uint64_t k = 0; k < n; k++) {
            put(dst, k, result[k]);
        }
        for (uint64_t k = 0; k < n; k++) {
            const Place p{dst.space, dst.addr + k};
            ASSERT_EQ(labels_of(t, p), get(dst, k).labels) << "step " << step;
            ASSERT_EQ(t.get(p).tcn, get(dst, k).tcn) << "step " << step;
        }
        if (step % 50 != 49) {
            continue;  // every byte of every space, now and then
        }
        for (int s = 0; s < kSpaces; s++) {
            for (uint64_t addr = 0; addr < 0x440; addr++) {
                const Byte want = get({static_cast<Space>(s), addr}, 0);
                const Place p{static_cast<Space>(s), addr};
                ASSERT_EQ(labels_of(t, p), want.labels)
                    << "step " << step << " space " << s << " 0x" << std::hex << addr;
                ASSERT_EQ(t.get(p).tcn, want.tcn)
                    << "step " << step << " space " << s << " 0x" << std::hex << addr;
            }
        }
    }
}

}  // namespace
}  // namespace hypanda::taint2
