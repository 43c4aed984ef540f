// Reads the test guest's ELF64 image: symbol addresses and the bytes at a
// virtual address, so tests can check plugin output against the code
// itself (e.g. that a reported PC holds a SYSCALL instruction).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hypanda::test {

struct ElfImage {
    std::map<std::string, uint64_t> symbols;  // function and object symbols
    std::vector<uint8_t> file;

    // Loads `path`; on failure `symbols` is empty.
    static ElfImage load(const std::string& path);
    // `n` bytes at virtual address `vaddr` (empty if not in a loaded segment).
    std::vector<uint8_t> bytes_at(uint64_t vaddr, size_t n) const;
    // The lowest symbol address above `vaddr` (0 if none).
    uint64_t next_symbol_after(uint64_t vaddr) const;
};

// The test guest's image (build_root()/tests/guest/hptest64.elf), loaded once.
const ElfImage& guest_image();

// The address of one of its symbols (throws std::out_of_range if none).
uint64_t guest_symbol(const std::string& name);

// The loop label of hp_count_loop (after its xor and mov), or 0 if the code
// there is not the loop's `add %rcx,%rax`.
uint64_t guest_count_loop_label();

}  // namespace hypanda::test
