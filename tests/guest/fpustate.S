/*
 * uint32_t hp_fpustate_call(uint32_t command, const void *in, void *out,
 *                           uint64_t xsave)
 *
 * Loads the whole x87/SSE state from `in` (FXRSTOR, or XRSTOR of x87, SSE
 * and AVX when `xsave`), makes one Hypanda hypercall `command` with no
 * floating-point instruction in between, and saves the state to `out`
 * (FXSAVE or XSAVE) straight after it: what the engine switch carried is
 * what `out` holds (fpustate.c compares it). Then puts the x87 unit and
 * MXCSR back to their defaults. Both areas are 64-byte aligned. Returns the
 * hypercall's EAX.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "model.h"

    .text
    .code64
    .globl hp_fpustate_call
hp_fpustate_call:
    push %rbx
    mov %rdx, %r8                    /* out */
    mov %rcx, %r9                    /* xsave */
    mov %edi, %ebx                   /* command */
    test %r9, %r9
    jz 1f
    mov $7, %eax                     /* x87 | SSE | AVX */
    xor %edx, %edx
    xrstor (%rsi)
    jmp 2f
1:  fxrstor (%rsi)

2:  mov $HYPANDA_HC_MAGIC, %eax
    xor %ecx, %ecx
    mov $HYPANDA_HC_PORT, %edx
    inl %dx, %eax
    mov %eax, %r10d                  /* the answer */

    test %r9, %r9
    jz 3f
    mov $7, %eax
    xor %edx, %edx
    xsave (%r8)
    jmp 4f
3:  fxsave (%r8)

4:  fninit
    push $0x1f80
    ldmxcsr (%rsp)
    add $8, %rsp
    mov %r10d, %eax
    pop %rbx
    ret
