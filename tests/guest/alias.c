/*
 * alias N (model.h): the same physical code run from two virtual addresses.
 * Analysis tools must tell the two apart: a block's or an instruction's
 * PC is the address it ran at, not the address its code was first
 * translated for.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "model.h"
#include "workloads.h"

extern uint64_t hp_pml4[512]; /* boot.S */

static void reload_cr3(void)
{
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

uint64_t workload_alias(uint64_t n)
{
    /* hp_count_loop uses only registers and relative jumps, so it runs the
     * same at either address. */
    uint64_t (*aliased)(uint64_t) =
        (uint64_t (*)(uint64_t))((uint64_t)hp_count_loop + HP_ALIAS_OFFSET);
    uint64_t sum = hp_count_loop(n);
    hp_pml4[1] = hp_pml4[0];
    reload_cr3();
    sum += aliased(n);
    hp_pml4[1] = 0;
    reload_cr3();
    return sum;
}
