/*
 * Output on the first serial port, and how the guest ends the run.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HPTEST_CONSOLE_H
#define HPTEST_CONSOLE_H

#include <stdint.h>

void con_puts(const char *s);
void con_putc(char c);
void con_put_dec(uint64_t v);
void con_put_hex(uint64_t v); /* 0x and 16 digits */

/* Exit codes the guest hands to isa-debug-exit (QEMU exits with 2*code+1). */
enum hp_exit_code {
    HP_EXIT_OK = 0,
    HP_EXIT_BAD_ARGUMENTS = 1,
    HP_EXIT_WORKLOAD_FAILED = 2,
    HP_EXIT_CPU_EXCEPTION = 3,
};

/* Ends the run through isa-debug-exit at port 0xf4; without that device,
 * says so and powers off through ACPI. Never returns. */
__attribute__((noreturn)) void hp_exit(enum hp_exit_code code);

/* Prints "ERROR <what>" (what may be several con_puts pieces: call
 * hp_error_begin, print, then hp_error_end) and exits with `code`. */
void hp_error_begin(void);
__attribute__((noreturn)) void hp_error_end(enum hp_exit_code code);
__attribute__((noreturn)) void hp_fail(enum hp_exit_code code, const char *message);

#endif
