/*
 * mem N: N stores and N loads of 1, 2, 4 and 8 bytes at LCG-chosen offsets
 * of a 64 KiB buffer (model.h gives the exact sequence). The accesses go
 * through volatile pointers, so each is exactly one guest load or store.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "model.h"
#include "workloads.h"

static uint8_t buffer[HP_MEM_BUFFER_SIZE] __attribute__((aligned(4096)));

static void store(uint32_t offset, uint32_t size, uint64_t v)
{
    volatile void *p = buffer + offset;
    switch (size) {
    case 1: *(volatile uint8_t *)p = (uint8_t)v; break;
    case 2: *(volatile uint16_t *)p = (uint16_t)v; break;
    case 4: *(volatile uint32_t *)p = (uint32_t)v; break;
    default: *(volatile uint64_t *)p = v; break;
    }
}

static uint64_t load(uint32_t offset, uint32_t size)
{
    volatile void *p = buffer + offset;
    switch (size) {
    case 1: return *(volatile uint8_t *)p;
    case 2: return *(volatile uint16_t *)p;
    case 4: return *(volatile uint32_t *)p;
    default: return *(volatile uint64_t *)p;
    }
}

uint64_t workload_mem(uint64_t n)
{
    for (uint32_t i = 0; i < HP_MEM_BUFFER_SIZE; i += 8) {
        *(volatile uint64_t *)(buffer + i) = 0;
    }
    uint64_t x = HP_MEM_SEED;
    uint64_t sum = HP_FNV_OFFSET;
    for (uint64_t i = 0; i < n; i++) {
        x = hp_lcg_next(x);
        uint32_t size = hp_mem_size(i);
        store(hp_mem_store_offset(x), size, x);
        sum = hp_fnv_u64(sum, load(hp_mem_load_offset(x), size));
    }
    return sum;
}

/* cross N (model.h): accesses that straddle the first page of `cross`. */
static uint8_t cross[2 * 4096] __attribute__((aligned(4096)));

uint64_t workload_cross(uint64_t n)
{
    volatile uint64_t *p = (volatile uint64_t *)(cross + HP_CROSS_PAGE_OFFSET);
    uint64_t x = HP_MEM_SEED;
    uint64_t sum = HP_FNV_OFFSET;
    for (uint64_t i = 0; i < n; i++) {
        x = hp_lcg_next(x);
        *p = x;
        sum = hp_fnv_u64(sum, *p);
    }
    return sum;
}
