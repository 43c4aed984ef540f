/*
 * The local APIC timer and the legacy PICs, as the timer workloads use
 * them (timer.c, hybrid.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HPTEST_LAPIC_H
#define HPTEST_LAPIC_H

#include "arch.h"

#define LAPIC_BASE 0xfee00000ull
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_DIVIDE 0x3e0
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define TIMER_PERIOD_TICKS 62500u /* x16 = 1 ms at QEMU's 1 GHz APIC clock */

static inline void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }

/* Remaps the legacy PICs away from the exception vectors and masks them,
 * so only the APIC timer interrupts. */
static inline void pic_remap_and_mask(void)
{
    outb(0x20, 0x11); outb(0xa0, 0x11); /* ICW1: init, ICW4 follows */
    outb(0x21, 0x20); outb(0xa1, 0x28); /* ICW2: vectors 0x20, 0x28 */
    outb(0x21, 0x04); outb(0xa1, 0x02); /* ICW3: cascade on IRQ2 */
    outb(0x21, 0x01); outb(0xa1, 0x01); /* ICW4: 8086 mode */
    outb(0x21, 0xff); outb(0xa1, 0xff); /* mask all */
}

/* Starts the periodic timer on `vector` (1 ms). */
static inline void lapic_timer_start(uint8_t vector)
{
    lapic_write(LAPIC_SVR, 0x100 | 0xff); /* enabled, spurious vector 0xff */
    lapic_write(LAPIC_TIMER_DIVIDE, 0x3); /* divide by 16 */
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | vector);
    lapic_write(LAPIC_TIMER_INITIAL, TIMER_PERIOD_TICKS);
}

/* Arms the timer on `vector` for one tick, 1 ms from now. One-shot, not
 * periodic: a tick handler re-arms it (lapic_timer_rearm) only while it
 * wants more, so however late an interrupt is delivered (KVM in the nested
 * route), the timer cannot have fired again behind it, and the count of
 * ticks is exact. */
static inline void lapic_timer_start_oneshot(uint8_t vector)
{
    lapic_write(LAPIC_SVR, 0x100 | 0xff); /* enabled, spurious vector 0xff */
    lapic_write(LAPIC_TIMER_DIVIDE, 0x3); /* divide by 16 */
    lapic_write(LAPIC_LVT_TIMER, vector);
    lapic_write(LAPIC_TIMER_INITIAL, TIMER_PERIOD_TICKS);
}

/* The next tick, 1 ms from now. */
static inline void lapic_timer_rearm(void)
{
    lapic_write(LAPIC_TIMER_INITIAL, TIMER_PERIOD_TICKS);
}

/* Stops it and masks its vector (before the last tick is acknowledged: no
 * further interrupt). */
static inline void lapic_timer_stop(uint8_t vector)
{
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | vector);
    lapic_write(LAPIC_TIMER_INITIAL, 0);
}

#endif
