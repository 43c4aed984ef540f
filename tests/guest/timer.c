/*
 * timer N: the local APIC timer in periodic mode (1 ms at QEMU's 1 GHz APIC
 * clock, divide-by-16) until the guest has taken N timer interrupts; the
 * value is the number it took. The legacy PICs are remapped and masked first
 * so only the APIC timer interrupts. Returns from interrupts use IRETQ:
 * this workload runs under TCG here (see entry.S).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "model.h"
#include "workloads.h"

#define LAPIC_BASE 0xfee00000ull
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_DIVIDE 0x3e0
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define TIMER_PERIOD_TICKS 62500u /* x16 = 1 ms at 1 GHz */

static volatile uint64_t ticks;
static uint64_t wanted;

static void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }

static void on_timer(void)
{
    ticks++;
    if (ticks == wanted) {
        /* The last one: stop the timer before acknowledging it, so no
         * further interrupt can arrive. */
        lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | HP_TIMER_VECTOR);
        lapic_write(LAPIC_TIMER_INITIAL, 0);
    }
    lapic_write(LAPIC_EOI, 0);
}

static void on_spurious(void)
{
}

static void pic_remap_and_mask(void)
{
    outb(0x20, 0x11); outb(0xa0, 0x11); /* ICW1: init, ICW4 follows */
    outb(0x21, 0x20); outb(0xa1, 0x28); /* ICW2: vectors 0x20, 0x28 */
    outb(0x21, 0x04); outb(0xa1, 0x02); /* ICW3: cascade on IRQ2 */
    outb(0x21, 0x01); outb(0xa1, 0x01); /* ICW4: 8086 mode */
    outb(0x21, 0xff); outb(0xa1, 0xff); /* mask all */
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
    lapic_write(LAPIC_SVR, 0x100 | 0xff); /* enabled, spurious vector 0xff */
    lapic_write(LAPIC_TIMER_DIVIDE, 0x3); /* divide by 16 */
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | HP_TIMER_VECTOR);
    lapic_write(LAPIC_TIMER_INITIAL, TIMER_PERIOD_TICKS);

    /* Interrupts are enabled only inside "sti; hlt": the STI shadow makes
     * the pair atomic, so a tick cannot slip in between the check and hlt. */
    while (ticks < wanted) {
        __asm__ volatile("sti; hlt; cli" ::: "memory");
    }
    return ticks;
}
