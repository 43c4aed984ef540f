/*
 * uint64_t hp_fpu_roundtrip(uint64_t pattern, uint32_t answers[2])
 *
 * Called in TCG (where SSE and x87 run on every KVM): sets XMM0-15 from
 * `pattern` (xmm.inc), one x87 register, and non-default rounding modes in
 * MXCSR and the x87 control word (round up); makes the hypercalls
 * SWITCH_TO_KVM and SWITCH_TO_TCG with only general-purpose instructions
 * between them (this machine's KVM cannot run SSE or x87, ARCHITECTURE.md
 * section 10), so the FPU state goes into KVM and comes back out; then
 * checks it all in TCG, including that both rounding modes still act (2.2
 * converts to 3). (That TCG rebuilds its derived rounding state from MXCSR
 * and the control word would need them changed under KVM to be seen; this
 * machine's KVM cannot run the instructions that change them.)
 * answers[] gets the two hypercalls' EAX. Returns the bits of what changed
 * (model.h: HP_SWITCH_CHANGED_*, HP_FPUSWITCH_*).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "model.h"
#include "xmm.inc"

#define TWO_POINT_TWO 0x400199999999999a /* 2.2 as a double */

    .text
    .code64
    .globl hp_fpu_roundtrip
hp_fpu_roundtrip:
    push %rbx
    push %r12
    sub $16, %rsp
    mov %rdi, %r11
    mov %rsi, %r12

    fninit
    movw $HP_FPUSWITCH_FCW, (%rsp)
    fldcw (%rsp)
    mov %r11d, %eax
    mov %rax, 8(%rsp)
    fildq 8(%rsp)
    movl $HP_FPUSWITCH_MXCSR_VALUE, (%rsp)
    ldmxcsr (%rsp)
    SET_ALL_XMM

    mov $HYPANDA_HC_MAGIC, %eax
    mov $HYPANDA_HC_SWITCH_TO_KVM, %ebx
    xor %ecx, %ecx
    mov $HYPANDA_HC_PORT, %edx
    inl %dx, %eax
    mov %eax, (%r12)
    mov $HYPANDA_HC_MAGIC, %eax
    mov $HYPANDA_HC_SWITCH_TO_TCG, %ebx
    xor %ecx, %ecx
    mov $HYPANDA_HC_PORT, %edx
    inl %dx, %eax
    mov %eax, 4(%r12)

    xor %r10d, %r10d
    CHECK_ALL_XMM
    stmxcsr (%rsp)
    cmpl $HP_FPUSWITCH_MXCSR_VALUE, (%rsp)
    je 1f
    bts $HP_FPUSWITCH_MXCSR, %r10
1:  mov $TWO_POINT_TWO, %rax
    movq %rax, %xmm0
    cvtsd2si %xmm0, %rax
    cmp $3, %rax
    je 2f
    bts $HP_FPUSWITCH_ROUND_SSE, %r10
2:  fnstcw (%rsp)
    cmpw $HP_FPUSWITCH_FCW, (%rsp)
    je 3f
    bts $HP_FPUSWITCH_FCW_BIT, %r10
3:  fistpq 8(%rsp)
    mov %r11d, %eax
    cmp 8(%rsp), %rax
    je 4f
    bts $HP_SWITCH_CHANGED_ST0, %r10
4:  mov $TWO_POINT_TWO, %rax
    mov %rax, 8(%rsp)
    fldl 8(%rsp)
    fistpq 8(%rsp)
    cmpq $3, 8(%rsp)
    je 5f
    bts $HP_FPUSWITCH_ROUND_X87, %r10

5:  fninit                           /* back to the defaults */
    movl $0x1f80, (%rsp)
    ldmxcsr (%rsp)
    mov %r10, %rax
    add $16, %rsp
    pop %r12
    pop %rbx
    ret
