// The closed forms and host-side models the guest tests rely on.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include "expected.h"
#include "model.h"

namespace hypanda::test {
namespace {

TEST(Model, CountClosedFormEqualsTheLoop) {
    for (uint64_t n : {1ull, 2ull, 3ull, 1000ull, 1000000ull, 4294967295ull}) {
        if (n <= 1000000) {
            EXPECT_EQ(hp_count_value(n), expected_count(n)) << n;
        }
    }
    EXPECT_EQ(hp_count_value(1000000), 500000500000ull);
    // Wraps modulo 2^64 like the guest's adds: 2^33 (2^33 + 1) / 2.
    EXPECT_EQ(hp_count_value(1ull << 33), (1ull << 32) * ((1ull << 33) + 1));
    EXPECT_EQ(hp_count_insns(1000000), 3000003u);
}

TEST(Model, FnvMatchesTheReferenceVectors) {
    // FNV-1a 64 of "a" and "foobar" (published test vectors).
    EXPECT_EQ(hp_fnv_byte(HP_FNV_OFFSET, 'a'), 0xaf63dc4c8601ec8cull);
    uint64_t h = HP_FNV_OFFSET;
    for (char c : std::string("foobar")) {
        h = hp_fnv_byte(h, static_cast<uint8_t>(c));
    }
    EXPECT_EQ(h, 0x85944171f73967e8ull);
}

TEST(Model, MemAccessesStayInsideTheBufferAndAligned) {
    uint64_t x = HP_MEM_SEED;
    for (int i = 0; i < 10000; i++) {
        x = hp_lcg_next(x);
        EXPECT_LE(hp_mem_store_offset(x) + 8, HP_MEM_BUFFER_SIZE);
        EXPECT_EQ(hp_mem_load_offset(x) % 8, 0u);
    }
    EXPECT_NE(expected_mem(1000), expected_mem(1001));
}

TEST(Model, UserCountSyscallReturnsTheCallNumber) {
    EXPECT_EQ(hp_syscall_result(HP_SYS_COUNT, 0, 0, 7), 7u);
    EXPECT_EQ(hp_syscall_result(HP_SYS_MIX, 5, 1, 0), 16u);
    EXPECT_EQ(hp_syscall_result(99, 5, 1, 0), UINT64_MAX);
}

TEST(Model, ResultLinesUseDecimalForCountsAndHexForChecksums) {
    EXPECT_EQ(result_line("count", 15), "RESULT count 15");
    EXPECT_EQ(result_line("io", 0xab), "RESULT io 0x00000000000000ab");
}

}  // namespace
}  // namespace hypanda::test
