/*
 * uint32_t hp_hybrid_call(uint32_t command): one Hypanda hypercall
 * (include/panda/hypercall.h) with no argument; returns EAX.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "model.h"

    .text
    .code64
    .globl hp_hybrid_call
hp_hybrid_call:
    push %rbx
    mov %edi, %ebx
    mov $HYPANDA_HC_MAGIC, %eax
    xor %ecx, %ecx
    mov $HYPANDA_HC_PORT, %edx
    inl %dx, %eax
    pop %rbx
    ret
