/*
 * void hp_taintflow(const uint8_t *src, uint8_t *dst, uint8_t *out, uint64_t n)
 * (taintflow.c): labels src through the taint2 plugin's hypercall, copies
 * it to dst with REP MOVSB, computes out from dst, and asks the plugin
 * what dst and out carry. Written in assembly so that the data flow the
 * test checks is exactly this:
 *   label   src[k] gets label k                       (CPUID, EBX=1)
 *   copy    dst[k] = src[k]                           (REP MOVSB)
 *   xor     out[k] = dst[k] ^ 0x5a, k = 0..n-1        (byte loads and stores)
 *   add     out[0] = dst[0] + dst[n-1]
 *   mul     out[1] = low byte of dst[1] * dst[3]      (MUL r/m8)
 *   divide  div[0] = dst[4] / dst[5], div[1] = dst[4] % dst[5] (DIV r/m8:
 *           QEMU runs it in a helper, helper_divb_AL)
 *   branch  for each k: CMP dst[k] with HP_TAINTFLOW_CUT, JAE at
 *           hp_taintflow_branch (tainted by {k}, taken or not)
 *   jump    JMP through a table of two entries indexed by dst[2] & 1, at
 *           hp_taintflow_jump (its target read through a tainted address:
 *           tainted by {2})
 *   sse     sse[0..15] = dst[0..15]                   (MOVDQU load, store)
 *   pointer ptrs[dst[3] & 7] = 0x77                    (a store through an
 *           address computed from dst[3]: that byte carries {3})
 *   query   dst, out, sse, ptrs, then div             (CPUID, EBX=2)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "model.h"

    .text
    .code64
    .globl hp_taintflow
hp_taintflow:
    push %rbx
    mov %rdi, %r8               /* src */
    mov %rsi, %r9               /* dst */
    mov %rdx, %r10              /* out */
    mov %rcx, %r11              /* n */

    mov $HP_TAINT2_MAGIC, %eax
    mov $HP_TAINT2_LABEL, %ebx
    mov %r8, %rcx
    mov %r11, %rdx
    xor %esi, %esi
    cpuid

    mov %r8, %rsi
    mov %r9, %rdi
    mov %r11, %rcx
    cld
    .globl hp_taintflow_copy
hp_taintflow_copy:
    rep movsb

    xor %ecx, %ecx
    .globl hp_taintflow_xor_load
hp_taintflow_xor_load:
1:  movzbl (%r9,%rcx), %eax
    xor $HP_TAINTFLOW_XOR, %al
    .globl hp_taintflow_xor_store
hp_taintflow_xor_store:
    mov %al, (%r10,%rcx)
    inc %rcx
    cmp %r11, %rcx
    jb 1b

    .globl hp_taintflow_add_load
hp_taintflow_add_load:
    movzbl (%r9), %eax
    .globl hp_taintflow_add
hp_taintflow_add:
    add -1(%r9,%r11), %al
    .globl hp_taintflow_add_store
hp_taintflow_add_store:
    mov %al, (%r10)

    .globl hp_taintflow_mul_load
hp_taintflow_mul_load:
    movzbl 1(%r9), %eax
    .globl hp_taintflow_mul
hp_taintflow_mul:
    mulb 3(%r9)
    .globl hp_taintflow_mul_store
hp_taintflow_mul_store:
    mov %al, 1(%r10)

    .globl hp_taintflow_divide_load
hp_taintflow_divide_load:
    movzbl 4(%r9), %eax         /* AX = dst[4] */
    .globl hp_taintflow_divide
hp_taintflow_divide:
    divb 5(%r9)                 /* AL = AX / dst[5], AH = AX % dst[5] */
    .globl hp_taintflow_divide_store
hp_taintflow_divide_store:
    mov %ax, hp_taintflow_div(%rip)

    xor %ecx, %ecx
    xor %edx, %edx
    .globl hp_taintflow_cmp
hp_taintflow_cmp:
2:  cmpb $HP_TAINTFLOW_CUT, (%r9,%rcx)
    .globl hp_taintflow_branch
hp_taintflow_branch:
    jae 3f
    inc %edx
3:  inc %rcx
    cmp %r11, %rcx
    jb 2b

    .globl hp_taintflow_jump_load
hp_taintflow_jump_load:
    movzbl 2(%r9), %eax
    and $1, %eax
    lea hp_taintflow_table(%rip), %rdx
    .globl hp_taintflow_jump
hp_taintflow_jump:
    jmp *(%rdx,%rax,8)
4:
    .globl hp_taintflow_sse_load
hp_taintflow_sse_load:
    movdqu (%r9), %xmm0
    .globl hp_taintflow_sse_store
hp_taintflow_sse_store:
    movdqu %xmm0, hp_taintflow_sse(%rip)

    .globl hp_taintflow_ptr_load
hp_taintflow_ptr_load:
    movzbl 3(%r9), %eax
    and $7, %eax
    lea hp_taintflow_ptrs(%rip), %rdx
    .globl hp_taintflow_ptr_store
hp_taintflow_ptr_store:
    movb $HP_TAINTFLOW_MARK, (%rdx,%rax)

    mov $HP_TAINT2_MAGIC, %eax
    mov $HP_TAINT2_QUERY, %ebx
    mov %r9, %rcx
    mov %r11, %rdx
    cpuid
    mov $HP_TAINT2_MAGIC, %eax
    mov $HP_TAINT2_QUERY, %ebx
    mov %r10, %rcx
    mov %r11, %rdx
    cpuid
    mov $HP_TAINT2_MAGIC, %eax
    mov $HP_TAINT2_QUERY, %ebx
    lea hp_taintflow_sse(%rip), %rcx
    mov $16, %edx
    cpuid
    mov $HP_TAINT2_MAGIC, %eax
    mov $HP_TAINT2_QUERY, %ebx
    lea hp_taintflow_ptrs(%rip), %rcx
    mov $8, %edx
    cpuid
    mov $HP_TAINT2_MAGIC, %eax
    mov $HP_TAINT2_QUERY, %ebx
    lea hp_taintflow_div(%rip), %rcx
    mov $2, %edx
    cpuid

    pop %rbx
    ret

    .section .rodata
    .balign 8
hp_taintflow_table:
    .quad 4b, 4b
    .bss
    .balign 16
hp_taintflow_sse:
    .skip 16
hp_taintflow_ptrs:
    .skip 8
hp_taintflow_div:
    .skip 2
    .text

/*
 * void hp_taint2_call(uint64_t command, uint64_t address, uint64_t length)
 * (taintflow.c): one taint2 hypercall with the given registers (RSI 0).
 */
    .globl hp_taint2_call
hp_taint2_call:
    push %rbx
    mov %rdi, %rbx
    mov %rsi, %rcx
    xor %esi, %esi
    mov $HP_TAINT2_MAGIC, %eax
    cpuid
    pop %rbx
    ret
