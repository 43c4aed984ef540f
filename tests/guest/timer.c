/*
 * timer N: the local APIC timer in periodic mode (1 ms at QEMU's 1 GHz APIC
 * clock, divide-by-16) until the guest has taken N timer interrupts; the
 * value is the number it took. (Run under TCG; timerswitch, which runs
 * under KVM too, uses a one-shot timer: lapic.h says why.) The legacy PICs are remapped and masked first
 * so only the APIC timer interrupts. Returns from interrupts use IRETQ:
 * this workload runs under TCG here (see entry.S).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "lapic.h"
#include "model.h"
#include "workloads.h"

static volatile uint64_t ticks;
static uint64_t wanted;

static void on_timer(void)
{
    ticks++;
    if (ticks == wanted) {
        /* The last one: stop the timer before acknowledging it, so no
         * further interrupt can arrive. */
        lapic_timer_stop(HP_TIMER_VECTOR);
    }
    lapic_write(LAPIC_EOI, 0);
}

static void on_spurious(void)
{
}

uint64_t workload_timer(uint64_t n)
{
    cpu_set_interrupt_handler(0x27, on_spurious);
    cpu_set_interrupt_handler(0x2f, on_spurious);
    cpu_set_interrupt_handler(0xff, on_spurious);
    cpu_set_interrupt_handler(HP_TIMER_VECTOR, on_timer);
    pic_remap_and_mask();

    ticks = 0;
    wanted = n;
    lapic_timer_start(HP_TIMER_VECTOR);

    /* Interrupts are enabled only inside "sti; hlt": the STI shadow makes
     * the pair atomic, so a tick cannot slip in between the check and hlt. */
    while (ticks < wanted) {
        __asm__ volatile("sti; hlt; cli" ::: "memory");
    }
    return ticks;
}
