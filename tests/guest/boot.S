/*
 * Multiboot (v1) entry of the test guest. QEMU's -kernel loads this ELF and
 * enters _start in 32-bit protected mode with paging off, EAX = 0x2badb002
 * and EBX = the multiboot information. From here: identity-map the first
 * 4 GiB with 2 MiB pages (user-accessible, so ring-3 workloads can run the
 * guest's own code), enable long mode, and call hp_main(mbi) in 64-bit mode.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003 /* page-aligned modules, memory information */

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .bss
    .balign 4096
    .globl hp_pml4
hp_pml4:
pml4:       .skip 4096
pdpt:       .skip 4096
pd:         .skip 4 * 4096
    .balign 16
    .globl hp_boot_stack_top
boot_stack: .skip 16384
hp_boot_stack_top:

    .section .data
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff /* 0x08 kernel code, 64-bit */
    .quad 0x00cf92000000ffff /* 0x10 kernel data */
boot_gdt_end:
boot_gdtr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .text.boot, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    mov $hp_boot_stack_top, %esp
    mov %ebx, %edi                  /* multiboot info, kept for hp_main */

    /* PML4[0] -> PDPT; PDPT[0..3] -> 4 page directories. */
    mov $pdpt, %eax
    or $0x7, %eax                   /* present, writable, user */
    mov %eax, pml4
    mov $pd, %eax
    or $0x7, %eax
    xor %ecx, %ecx
1:  mov %eax, pdpt(, %ecx, 8)
    add $4096, %eax
    inc %ecx
    cmp $4, %ecx
    jne 1b

    /* 2048 entries of 2 MiB: present, writable, user, large page. */
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $21, %eax
    or $0x87, %eax
    mov %eax, pd(, %ecx, 8)         /* high half stays zero (.bss) */
    inc %ecx
    cmp $2048, %ecx
    jne 2b

    mov $pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $(1 << 5), %eax              /* PAE */
    mov %eax, %cr4
    mov $MSR_EFER, %ecx
    rdmsr
    or $((1 << 8) | (1 << 0)), %eax /* LME, SCE */
    wrmsr
    mov %cr0, %eax
    or $((1 << 31) | (1 << 16) | 1), %eax /* PG, WP, PE */
    mov %eax, %cr0

    lgdt boot_gdtr
    ljmp $SEL_KERNEL_CODE, $long_mode

    .code64
long_mode:
    mov $SEL_KERNEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    mov $hp_boot_stack_top, %rsp
    /* %edi still holds the multiboot info address (zero-extended). */
    mov %edi, %edi
    call hp_main
3:  cli
    hlt
    jmp 3b
