/*
 * GDT, TSS and IDT of the test guest, and the C side of exceptions and
 * interrupts.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "cpu.h"

#include "arch.h"
#include "console.h"
#include "workloads.h"

struct __attribute__((packed)) descriptor_pointer {
    uint16_t limit;
    uint64_t base;
};

struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};

/* The selector order is what SYSCALL/SYSRET (STAR) and SYSENTER/SYSEXIT
 * (IA32_SYSENTER_CS = 0x08) derive their selectors from; see arch.h. */
static uint64_t gdt[9] = {
    0,
    0x00af9a000000ffffull, /* 0x08 kernel code, 64-bit */
    0x00cf92000000ffffull, /* 0x10 kernel data */
    0x00cffa000000ffffull, /* 0x18 user code, 32-bit (STAR base for SYSRET) */
    0x00cff2000000ffffull, /* 0x20 user data (SYSRET) */
    0x00affa000000ffffull, /* 0x28 user code, 64-bit */
    0x00cff2000000ffffull, /* 0x30 user data (SYSEXIT) */
    0,                     /* 0x38 TSS, low and high halves */
    0,
};

static struct tss64 tss;
static struct idt_gate idt[256];
static uint8_t kernel_stack[16384] __attribute__((aligned(16)));
uint64_t hp_kernel_stack_top;

static void (*interrupt_handlers[256])(void);

extern const uint64_t hp_exception_stubs[32];
extern char hp_interrupt_0x27[], hp_interrupt_0x2f[], hp_interrupt_0x40[], hp_interrupt_0x41[],
    hp_interrupt_0xff[];
extern char hp_int80_entry[];

static void set_gate(uint8_t vector, uint64_t target, uint8_t dpl)
{
    struct idt_gate *g = &idt[vector];
    g->offset_low = (uint16_t)target;
    g->selector = SEL_KERNEL_CODE;
    g->ist = 0;
    g->type_attr = (uint8_t)(0x8e | (dpl << 5)); /* present, 64-bit interrupt gate */
    g->offset_mid = (uint16_t)(target >> 16);
    g->offset_high = (uint32_t)(target >> 32);
    g->reserved = 0;
}

void cpu_init(void)
{
    hp_kernel_stack_top = (uint64_t)(kernel_stack + sizeof kernel_stack);
    tss.rsp[0] = hp_kernel_stack_top;
    tss.iomap_base = sizeof tss; /* no I/O permission bitmap */

    uint64_t base = (uint64_t)&tss;
    uint64_t limit = sizeof tss - 1;
    gdt[7] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
             (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[8] = base >> 32;

    struct descriptor_pointer gdtr = {sizeof gdt - 1, (uint64_t)gdt};
    __asm__ volatile("lgdt %0" : : "m"(gdtr));
    __asm__ volatile("ltr %w0" : : "r"(SEL_TSS));

    for (int v = 0; v < 32; v++) {
        set_gate((uint8_t)v, hp_exception_stubs[v], 0);
    }
    struct descriptor_pointer idtr = {sizeof idt - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

void cpu_set_interrupt_handler(uint8_t vector, void (*handler)(void))
{
    uint64_t stub;
    switch (vector) {
    case 0x27: stub = (uint64_t)hp_interrupt_0x27; break;
    case 0x2f: stub = (uint64_t)hp_interrupt_0x2f; break;
    case 0x40: stub = (uint64_t)hp_interrupt_0x40; break;
    case 0x41: stub = (uint64_t)hp_interrupt_0x41; break;
    case 0xff: stub = (uint64_t)hp_interrupt_0xff; break;
    default:
        hp_fail(HP_EXIT_WORKLOAD_FAILED, "internal: no interrupt stub for this vector");
    }
    interrupt_handlers[vector] = handler;
    set_gate(vector, stub, 0);
}

void cpu_enable_int80(void)
{
    set_gate(0x80, (uint64_t)hp_int80_entry, 3);
}

void hp_interrupt(uint64_t vector);
void hp_interrupt(uint64_t vector)
{
    if (interrupt_handlers[vector & 0xff] != 0) {
        interrupt_handlers[vector & 0xff]();
    }
}

static const char *const exception_names[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range",
    "invalid opcode", "device not available", "double fault", "coprocessor overrun",
    "invalid TSS", "segment not present", "stack fault", "general protection",
    "page fault", "reserved", "x87 error", "alignment check", "machine check",
    "SIMD error", "virtualization", "control protection", "reserved", "reserved",
    "reserved", "reserved", "reserved", "reserved", "hypervisor injection",
    "VMM communication", "security", "reserved",
};

/* frame: vector, error code, then the CPU's RIP, CS, RFLAGS, RSP, SS.
 * Returns only for a fault the running workload expects (then entry.S
 * resumes the guest with IRETQ). */
void hp_exception(uint64_t *frame);
void hp_exception(uint64_t *frame)
{
    if (hp_fault_expected(frame)) {
        return;
    }
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    hp_error_begin();
    con_puts("cpu exception ");
    con_put_dec(frame[0]);
    con_puts(" (");
    con_puts(exception_names[frame[0] & 31]);
    con_puts(") at rip=");
    con_put_hex(frame[2]);
    con_puts(" cs=");
    con_put_hex(frame[3]);
    con_puts(" error=");
    con_put_hex(frame[1]);
    con_puts(" cr2=");
    con_put_hex(cr2);
    hp_error_end(HP_EXIT_CPU_EXCEPTION);
}
