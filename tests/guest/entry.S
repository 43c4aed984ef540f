/*
 * The test guest's assembly entry points: exception and interrupt stubs,
 * the three system-call entries (SYSCALL, INT 0x80, SYSENTER), the switch to
 * ring 3 and back, and the counting loop whose instruction count is exact.
 *
 * Interrupt and INT 0x80 returns use IRETQ, which this machine's nested KVM
 * cannot emulate (ARCHITECTURE.md section 10): only the `timer` and `user`
 * workloads take them, and those run under TCG. Exceptions never return.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"
#include "model.h"

    .text
    .code64

/* The caller-saved registers but %rax (which carries results), in the
 * order every stub below saves them. */
.macro PUSH_SCRATCH
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
.endm

.macro POP_SCRATCH
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
.endm


/* ---- count ---------------------------------------------------------------
 * uint64_t hp_count_loop(uint64_t n), n >= 1: returns n + (n-1) + ... + 1.
 * Executed instructions, from the xor to the ret inclusive: 2 + 3n + 1 =
 * 3n + 3 (model.h: hp_count_insns). Uses no memory besides the ret's pop. */
    .globl hp_count_loop
hp_count_loop:
    xor %eax, %eax
    mov %rdi, %rcx
1:  add %rcx, %rax
    dec %rcx
    jnz 1b
    ret

/* ---- patch N --------------------------------------------------------------
 * uint64_t hp_patch_loop(uint64_t n), n >= 1: code that rewrites its own
 * block. Each round stores the low byte of the round's counter (n down to
 * 1) into the immediate of the `add` two instructions on, then runs that
 * add, so the store lands in the very block being executed: QEMU abandons
 * the store's attempt, and runs it again alone (precise self-modifying
 * code). Returns the sum of the sign-extended bytes (model.h). Retired
 * instructions, from the xor to the ret inclusive: 2 + 4n + 1 (the loop's
 * four per round); QEMU's plugin API sees one more attempt per round. */
    .globl hp_patch_loop
hp_patch_loop:
    xor %eax, %eax
    mov %rdi, %rcx
1:  movb %cl, 2f+2(%rip)
2:  .byte 0x83, 0xc0, 0x00 /* add $imm8, %eax; imm8 patched above */
    dec %rcx
    jnz 1b
    .globl hp_patch_loop_ret
hp_patch_loop_ret:
    ret
    .globl hp_patch_loop_end
hp_patch_loop_end:

/* ---- hypercall -----------------------------------------------------------
 * uint64_t hp_hypercall_loop(uint64_t n), n >= 1: n CPUIDs, the x86 guest
 * hypercall, with EAX = HP_HYPERCALL_MAGIC, EBX = i, ECX = 3i + 1 for
 * i = 0..n-1 (model.h). Returns n. */
    .globl hp_hypercall_loop
hp_hypercall_loop:
    push %rbx
    xor %r8d, %r8d
1:  mov $HP_HYPERCALL_MAGIC, %eax
    mov %r8, %rbx
    lea 1(%r8, %r8, 2), %rcx
    cpuid
    inc %r8
    cmp %rdi, %r8
    jne 1b
    mov %r8, %rax
    pop %rbx
    ret

/* ---- fault ---------------------------------------------------------------
 * uint64_t hp_fault_loop(uint64_t n, uint64_t base), n >= 1: n loads from
 * the unmapped addresses base + 4096 i, each a page fault that fault.c's
 * handler skips by advancing RIP over the 3-byte load at hp_fault_insn.
 * Returns n. */
    .globl hp_fault_loop
hp_fault_loop:
    push %rbx
    xor %ecx, %ecx
1:  mov %rcx, %rax
    shl $12, %rax
    add %rsi, %rax
    .globl hp_fault_insn
hp_fault_insn:
    mov (%rax), %rbx            /* 48 8b 18 */
    inc %rcx
    cmp %rdi, %rcx
    jne 1b
    mov %rcx, %rax
    pop %rbx
    ret

/* ---- exceptions ----------------------------------------------------------
 * Vectors 0-31 push (vector, error code or 0) and call hp_exception(frame),
 * which reports and ends the run. */
.macro EXCEPTION vec, has_error
    .globl hp_exception_\vec
hp_exception_\vec:
    .if \has_error == 0
    push $0
    .endif
    push $\vec
    jmp exception_common
.endm

EXCEPTION 0, 0
EXCEPTION 1, 0
EXCEPTION 2, 0
EXCEPTION 3, 0
EXCEPTION 4, 0
EXCEPTION 5, 0
EXCEPTION 6, 0
EXCEPTION 7, 0
EXCEPTION 8, 1
EXCEPTION 9, 0
EXCEPTION 10, 1
EXCEPTION 11, 1
EXCEPTION 12, 1
EXCEPTION 13, 1
EXCEPTION 14, 1
EXCEPTION 15, 0
EXCEPTION 16, 0
EXCEPTION 17, 1
EXCEPTION 18, 0
EXCEPTION 19, 0
EXCEPTION 20, 0
EXCEPTION 21, 1
EXCEPTION 22, 0
EXCEPTION 23, 0
EXCEPTION 24, 0
EXCEPTION 25, 0
EXCEPTION 26, 0
EXCEPTION 27, 0
EXCEPTION 28, 0
EXCEPTION 29, 1
EXCEPTION 30, 1
EXCEPTION 31, 0

/* hp_exception(frame) reports the exception and ends the run, unless the
 * fault was one a workload expects (fault.c): then it advances the saved
 * RIP and returns, and the faulting code resumes. */
exception_common:
    push %rax
    PUSH_SCRATCH
    push %rbp
    mov %rsp, %rbp
    lea 80(%rsp), %rdi          /* [vector, error, rip, cs, rflags, rsp, ss] */
    and $-16, %rsp
    call hp_exception
    mov %rbp, %rsp
    pop %rbp
    POP_SCRATCH
    pop %rax
    add $16, %rsp               /* vector and error code */
    iretq

    .section .rodata
    .balign 8
    .globl hp_exception_stubs
hp_exception_stubs:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad hp_exception_\v
    .endr
    .text

/* ---- interrupts ----------------------------------------------------------
 * Saves the caller-saved registers, calls hp_interrupt(vector), returns with
 * IRETQ. Interrupts arrive only in ring 0 (ring-3 code runs with IF=0); the
 * CPU aligns the stack to 16 bytes before pushing its 5-word frame, so after
 * 9 more words the call below is made on an aligned stack. */
.macro INTERRUPT_ENTRY vec
    .globl hp_interrupt_\vec
hp_interrupt_\vec:
    push %rax
    PUSH_SCRATCH
    mov $\vec, %edi
    call hp_interrupt
    POP_SCRATCH
    pop %rax
.endm

.macro INTERRUPT vec
    INTERRUPT_ENTRY \vec
    iretq
.endm

/* The same, returning without IRETQ, for code that also runs under this
 * machine's KVM (ARCHITECTURE.md section 10): RIP, RFLAGS and the saved RCX
 * go onto the interrupted stack, which then pops them (POPFQ; RET). Only
 * for interrupts taken in ring 0 (same stack, SS unchanged). */
.macro INTERRUPT_NO_IRET vec
    INTERRUPT_ENTRY \vec
    push %rcx
    push %rdx
    push %rax                   /* rax rdx rcx | rip cs rflags rsp ss */
    mov 48(%rsp), %rax          /* the interrupted RSP */
    mov 24(%rsp), %rdx          /* RIP */
    mov %rdx, -8(%rax)
    mov 40(%rsp), %rdx          /* RFLAGS */
    mov %rdx, -16(%rax)
    mov 16(%rsp), %rcx          /* the interrupted RCX */
    mov %rcx, -24(%rax)
    lea -24(%rax), %rcx
    pop %rax
    pop %rdx
    mov %rcx, %rsp
    pop %rcx
    popfq
    ret
.endm

/* ---- system calls --------------------------------------------------------
 * All three entries call hp_syscall(nr, a, b, mechanism) with nr in %rax and
 * the arguments in %rdi, %rsi, and return its value in %rax. Every other
 * register survives the call, except those the instruction itself uses:
 * SYSCALL takes %rcx and %r11, SYSENTER takes %rcx (user stack) and %rdx
 * (return address) from the caller. */

.macro CALL_HP_SYSCALL mechanism
    mov %rsi, %rdx
    mov %rdi, %rsi
    mov %rax, %rdi
    mov $\mechanism, %ecx
    call hp_syscall
.endm

    .globl hp_syscall_entry
hp_syscall_entry:
    mov %rsp, syscall_user_rsp(%rip)
    mov hp_kernel_stack_top(%rip), %rsp
    pushq syscall_user_rsp(%rip)
    PUSH_SCRATCH               /* 9 words: realign below */
    sub $8, %rsp
    CALL_HP_SYSCALL 0
    add $8, %rsp
    POP_SCRATCH
    pop %rsp
    sysretq

    .globl hp_int80_entry
hp_int80_entry:                     /* CPU pushed 5 words on the TSS stack */
    PUSH_SCRATCH
    sub $8, %rsp
    CALL_HP_SYSCALL 1
    add $8, %rsp
    POP_SCRATCH
    iretq

    .globl hp_sysenter_entry
hp_sysenter_entry:                  /* %rsp = IA32_SYSENTER_ESP */
    PUSH_SCRATCH
    CALL_HP_SYSCALL 2
    POP_SCRATCH
    sysexitq                        /* %rip = %rdx, %rsp = %rcx */

/* ---- ring 3 and back -----------------------------------------------------
 * uint64_t hp_run_user(void (*entry)(uint64_t), uint64_t arg, void *stack_top)
 * Runs entry(arg) in ring 3 (IF=0) on the given stack and returns the value
 * ring 3 passes to hp_leave_user. */
    .globl hp_run_user
hp_run_user:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, kernel_saved_rsp(%rip)
    mov %rdi, %rcx                  /* SYSRET: %rip = %rcx */
    mov %rsi, %rdi                  /* entry's argument */
    mov $0x2, %r11d                 /* SYSRET: %rflags = %r11 (IF=0) */
    mov %rdx, %rsp
    sysretq

/* void hp_leave_user(uint64_t value): called from hp_syscall (ring 0) for
 * HP_SYS_EXIT; abandons the system-call frame and returns from hp_run_user. */
    .globl hp_leave_user
hp_leave_user:
    mov kernel_saved_rsp(%rip), %rsp
    mov %rdi, %rax
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

INTERRUPT 0x40
INTERRUPT_NO_IRET 0x41
INTERRUPT 0xff
INTERRUPT 0x27
INTERRUPT 0x2f

    .section .bss
    .balign 8
syscall_user_rsp: .skip 8
kernel_saved_rsp: .skip 8
