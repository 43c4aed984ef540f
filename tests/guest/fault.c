/*
 * fault N: N loads from unmapped addresses (hp_fault_loop in entry.S), each
 * a page fault the guest handles and skips. The value is FNV-1a of the
 * faulting addresses as CR2 reported them (model.h). Returning from the
 * fault uses IRETQ: this workload runs under TCG here.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "console.h"
#include "model.h"
#include "workloads.h"

uint64_t hp_fault_loop(uint64_t n, uint64_t base); /* entry.S */
extern char hp_fault_insn[];

static int expecting;
static uint64_t faults;
static uint64_t checksum;

int hp_fault_expected(uint64_t *frame)
{
    const uint64_t vector = frame[0], rip = frame[2];
    if (!expecting || vector != 14 || rip != (uint64_t)hp_fault_insn) {
        return 0;
    }
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    checksum = hp_fnv_u64(checksum, cr2);
    faults++;
    frame[2] = rip + HP_FAULT_INSN_LENGTH;
    return 1;
}

uint64_t workload_fault(uint64_t n)
{
    faults = 0;
    checksum = HP_FNV_OFFSET;
    expecting = 1;
    uint64_t done = hp_fault_loop(n, HP_FAULT_BASE);
    expecting = 0;
    if (done != n || faults != n) {
        hp_fail(HP_EXIT_WORKLOAD_FAILED, "fault: the guest took a different number of page faults than loads it made");
    }
    return checksum;
}
