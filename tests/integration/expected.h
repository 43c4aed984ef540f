// Host-side models of the test guest's workloads: the exact value each
// RESULT line must carry, computed independently of the emulator from
// model.h's definitions and the PC machine's documented register values.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hypanda::test {

// Fixed facts of QEMU's default `pc` machine (i440FX) with 128 MiB of RAM.
struct PcMachineFacts {
    uint8_t cmos_base_memory_low = 0x80;  // CMOS 0x15/0x16: 640 KiB = 0x0280
    uint8_t cmos_base_memory_high = 0x02;
    uint32_t host_bridge_id = 0x12378086;  // PCI 00:00.0 vendor 8086, device 1237
    uint32_t ioapic_max_redirection = 23;  // 24 pins
};

uint64_t expected_count(uint64_t n);
uint64_t expected_mem(uint64_t n);
uint64_t expected_user(uint64_t n);
uint64_t expected_io(uint64_t n, const PcMachineFacts& facts = {});
uint64_t expected_disk(const std::vector<uint8_t>& image, uint64_t sectors);
uint64_t expected_fault(uint64_t n);
uint64_t expected_cross(uint64_t n);

// "RESULT <name> <value>" as the guest prints it: decimal for count and
// timer, 0x and 16 hex digits for the checksums.
std::string result_line(const std::string& workload, uint64_t value);

// Deterministic disk-image contents for the disk workload's tests.
std::vector<uint8_t> make_disk_image(size_t bytes, uint32_t seed);

}  // namespace hypanda::test
