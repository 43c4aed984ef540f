// Host-side models of the test guest's workloads (see expected.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "expected.h"

#include <array>
#include <cstdio>
#include <cstring>

#include "model.h"

namespace hypanda::test {

uint64_t expected_count(uint64_t n) {
    // Summed the slow way on purpose: an independent check of the guest's
    // loop and of model.h's closed form alike.
    uint64_t sum = 0;
    for (uint64_t k = 1; k <= n; k++) {
        sum += k;
    }
    return sum;
}

uint64_t expected_mem(uint64_t n) {
    std::array<uint8_t, HP_MEM_BUFFER_SIZE> buffer{};
    uint64_t x = HP_MEM_SEED;
    uint64_t sum = HP_FNV_OFFSET;
    for (uint64_t i = 0; i < n; i++) {
        x = hp_lcg_next(x);
        uint32_t size = hp_mem_size(i);
        std::memcpy(buffer.data() + hp_mem_store_offset(x), &x, size);  // little-endian
        uint64_t loaded = 0;
        std::memcpy(&loaded, buffer.data() + hp_mem_load_offset(x), size);
        sum = hp_fnv_u64(sum, loaded);
    }
    return sum;
}

uint64_t expected_user(uint64_t n) {
    uint64_t log = HP_FNV_OFFSET;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t nr = 1 + i % 4;
        uint64_t via = i % 3;
        log = hp_syscall_log(log, via, nr, i, acc);
        acc = acc * 31 + hp_syscall_result(nr, i, acc, i + 1);
    }
    return hp_fnv_u64(log, acc);
}

uint64_t expected_io(uint64_t n, const PcMachineFacts& facts) {
    uint64_t sum = HP_FNV_OFFSET;
    sum = hp_fnv_u64(sum, facts.cmos_base_memory_low);
    sum = hp_fnv_u64(sum, facts.cmos_base_memory_high);
    for (uint64_t i = 0; i < n; i++) {
        sum = hp_fnv_u64(sum, hp_io_scratch_value(i));
        sum = hp_fnv_u64(sum, hp_io_cmos_value(i));
        sum = hp_fnv_u64(sum, facts.host_bridge_id);
        sum = hp_fnv_u64(sum, facts.ioapic_max_redirection);
        sum = hp_fnv_u64(sum, hp_io_redir_value(i));
    }
    return sum;
}

uint64_t expected_disk(const std::vector<uint8_t>& image, uint64_t sectors) {
    uint64_t sum = HP_FNV_OFFSET;
    for (size_t k = 0; k < sectors * HP_DISK_SECTOR && k < image.size(); k++) {
        sum = hp_fnv_byte(sum, image[k]);
    }
    return sum;
}

uint64_t expected_fault(uint64_t n) {
    uint64_t sum = HP_FNV_OFFSET;
    for (uint64_t i = 0; i < n; i++) {
        sum = hp_fnv_u64(sum, hp_fault_address(i));
    }
    return sum;
}

uint64_t expected_cross(uint64_t n) {
    uint64_t x = HP_MEM_SEED;
    uint64_t sum = HP_FNV_OFFSET;
    for (uint64_t i = 0; i < n; i++) {
        x = hp_lcg_next(x);
        sum = hp_fnv_u64(sum, x);
    }
    return sum;
}

std::string result_line(const std::string& workload, uint64_t value) {
    char buf[64];
    if (workload == "count" || workload == "timer" || workload == "hypercall" || workload == "window" || workload == "llvmwindow" ||
        workload == "timerswitch" || workload == "switchlat" || workload == "bracket") {
        std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(value));
    } else {
        std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(value));
    }
    return "RESULT " + workload + " " + buf;
}

std::vector<uint8_t> make_disk_image(size_t bytes, uint32_t seed) {
    std::vector<uint8_t> image(bytes);
    uint32_t x = seed;
    for (auto& b : image) {
        x = x * 1103515245u + 12345u;
        b = static_cast<uint8_t>(x >> 16);
    }
    return image;
}

}  // namespace hypanda::test
