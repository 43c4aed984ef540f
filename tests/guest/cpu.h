/*
 * Descriptor tables and interrupt plumbing of the test guest.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HPTEST_CPU_H
#define HPTEST_CPU_H

#include <stdint.h>

/* Loads the guest's GDT (with a TSS whose RSP0 is hp_kernel_stack_top) and
 * an IDT in which vectors 0-31 report the exception and end the run. Only
 * memory accesses and descriptor-table loads: no port I/O. */
void cpu_init(void);

/* Installs an interrupt gate for `vector` (one of the vectors entry.S has a
 * stub for: 0x27, 0x2f, 0x40, 0xff) that calls `handler` and returns with
 * IRETQ; 0x41 returns without IRETQ (for this machine's KVM, entry.S). */
void cpu_set_interrupt_handler(uint8_t vector, void (*handler)(void));

/* Installs the INT 0x80 gate, callable from ring 3. */
void cpu_enable_int80(void);

/* Top of the stack system calls and ring-3 interrupts run on. */
extern uint64_t hp_kernel_stack_top;

#endif
