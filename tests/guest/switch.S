/*
 * uint32_t hp_switch_call(uint32_t command, uint64_t pattern,
 *                         uint64_t *changed, uint64_t with_fpu)
 *
 * Makes one Hypanda hypercall (include/panda/hypercall.h) with every
 * register the call does not use holding a value derived from `pattern`,
 * then checks that each still holds it: the engine switch the call may
 * cause must carry the whole CPU state across. *changed gets a bit per
 * register that changed (model.h: HP_SWITCH_CHANGED_*). Returns EAX.
 *
 * Checked: R8-R15, RBP, RSI, RDI (pattern + 0..10), both halves of
 * XMM0-XMM15 (pattern + 16 + n, duplicated), and two x87 stack entries
 * (pattern & 0xffffffff and its negation, loaded as integers). The XMM
 * and x87 part only when `with_fpu` (the caller must then have enabled SSE,
 * CR4.OSFXSR): this machine's nested KVM cannot emulate those instructions
 * (ARCHITECTURE.md section 10), so the KVM-side variant leaves them out.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "model.h"
#include "xmm.inc"

    .text
    .code64

/* Compares register \reg with pattern + \k; bit \bit of %r10 if not. */
.macro CHECK_GPR reg, k, bit
    lea \k(%r11), %rcx
    cmp %rcx, \reg
    je 3f
    bts $\bit, %r10
3:
.endm

    .globl hp_switch_call
hp_switch_call:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    push %rdx                        /* the `changed` pointer */
    push %rcx                        /* with_fpu */
    sub $16, %rsp                    /* x87 scratch */
    mov %rsi, %r11
    /* The pattern is also kept on the stack: %r11 is not checked, and the
     * hypercall may not change memory either. */
    push %rsi
    test %rcx, %rcx
    jz 7f

    /* x87: two integers on the stack. */
    fninit
    mov %r11d, %eax
    mov %rax, 8(%rsp)
    fildq 8(%rsp)
    neg %rax
    mov %rax, 16(%rsp)
    fildq 16(%rsp)

    SET_ALL_XMM

7:  mov %edi, %ebx                   /* command */
    lea 0(%r11), %r8
    lea 1(%r11), %r9
    lea 2(%r11), %r10
    lea 4(%r11), %r12
    lea 5(%r11), %r13
    lea 6(%r11), %r14
    lea 7(%r11), %r15
    lea 8(%r11), %rbp
    lea 9(%r11), %rsi
    lea 10(%r11), %rdi
    mov $HP_SWITCH_MAGIC, %eax
    xor %ecx, %ecx                   /* argument */
    mov $HP_SWITCH_PORT, %edx
    inl %dx, %eax
    mov %eax, %ebx                   /* the result, kept while checking */

    mov (%rsp), %r11                 /* the pattern, from memory */
    /* %r10 is checked first: it then collects the changed bits. */
    lea 2(%r11), %rcx
    cmp %rcx, %r10
    mov $0, %r10d
    je 4f
    bts $HP_SWITCH_CHANGED_R10, %r10
4:
    CHECK_GPR %r8, 0, HP_SWITCH_CHANGED_R8
    CHECK_GPR %r9, 1, HP_SWITCH_CHANGED_R9
    CHECK_GPR %r12, 4, HP_SWITCH_CHANGED_R12
    CHECK_GPR %r13, 5, HP_SWITCH_CHANGED_R13
    CHECK_GPR %r14, 6, HP_SWITCH_CHANGED_R14
    CHECK_GPR %r15, 7, HP_SWITCH_CHANGED_R15
    CHECK_GPR %rbp, 8, HP_SWITCH_CHANGED_RBP
    CHECK_GPR %rsi, 9, HP_SWITCH_CHANGED_RSI
    CHECK_GPR %rdi, 10, HP_SWITCH_CHANGED_RDI
    cmpq $0, 24(%rsp)                /* with_fpu */
    je 6f
    CHECK_ALL_XMM

    /* x87: ST0 is the negation, loaded last; ST1 the value. */
    fistpq 8(%rsp)
    mov %r11d, %eax
    neg %rax
    cmp 8(%rsp), %rax
    je 5f
    bts $HP_SWITCH_CHANGED_ST0, %r10
5:  fistpq 8(%rsp)
    mov %r11d, %eax
    cmp 8(%rsp), %rax
    je 6f
    bts $HP_SWITCH_CHANGED_ST1, %r10
6:
    pop %rsi
    add $16, %rsp
    pop %rcx
    pop %rdx
    mov %r10, (%rdx)
    mov %ebx, %eax
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
