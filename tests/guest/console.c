/*
 * Serial console (16550 at 0x3f8) and the end of the run. The UART is set up
 * on first use, so a workload that comes before any output runs before the
 * guest's first port access.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "console.h"

#include "arch.h"

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4

static int uart_ready;

static void uart_init(void)
{
    outb(COM1 + 1, 0x00); /* no UART interrupts */
    outb(COM1 + 3, 0x80); /* divisor latch */
    outb(COM1 + 0, 0x01); /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1 */
    outb(COM1 + 2, 0x07); /* FIFO on, cleared */
    uart_ready = 1;
}

void con_putc(char c)
{
    if (!uart_ready) {
        uart_init();
    }
    /* Bounded wait for the transmit holding register; an emulated UART is
     * always ready, real ones within microseconds. */
    for (int spins = 0; spins < 100000 && !(inb(COM1 + 5) & 0x20); spins++) {
    }
    outb(COM1, (uint8_t)c);
}

void con_puts(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\n') {
            con_putc('\r');
        }
        con_putc(*s);
    }
}

void con_put_dec(uint64_t v)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        con_putc(digits[--n]);
    }
}

void con_put_hex(uint64_t v)
{
    con_puts("0x");
    for (int shift = 60; shift >= 0; shift -= 4) {
        con_putc("0123456789abcdef"[(v >> shift) & 0xf]);
    }
}

void hp_exit(enum hp_exit_code code)
{
    outl(DEBUG_EXIT_PORT, (uint32_t)code);
    /* Still here: no isa-debug-exit device. Say what to add, then try the
     * PIIX4/ICH9 ACPI power-off port SeaBIOS sets up (0x604, SLP_TYP=S5). */
    con_puts("ERROR no isa-debug-exit device at port 0xf4; add -device isa-debug-exit,iobase=0xf4,iosize=4\n");
    outw(0x604, 0x2000);
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}

void hp_error_begin(void)
{
    con_puts("ERROR ");
}

void hp_error_end(enum hp_exit_code code)
{
    con_puts("\n");
    hp_exit(code);
}

void hp_fail(enum hp_exit_code code, const char *message)
{
    hp_error_begin();
    con_puts(message);
    hp_error_end(code);
}
