/*
 * user N: ring-3 code makes N system calls, rotating through SYSCALL,
 * INT 0x80 and SYSENTER, handled by hp_syscall in ring 0 (model.h gives the
 * numbers, arguments and results).
 *
 * SYSENTER is valid in 64-bit mode only on Intel CPUs; on others it raises
 * #UD, so the workload refuses to start there with a message saying which
 * -cpu option to use.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "model.h"
#include "workloads.h"

extern char hp_syscall_entry[], hp_sysenter_entry[];
uint64_t hp_run_user(void (*entry)(uint64_t), uint64_t arg, void *stack_top);
__attribute__((noreturn)) void hp_leave_user(uint64_t value);

static uint64_t kernel_log;
static uint64_t kernel_calls;
static uint8_t user_stack[16384] __attribute__((aligned(16)));

/* ---- ring 0 ---- */

uint64_t hp_syscall(uint64_t nr, uint64_t a, uint64_t b, uint64_t via);
uint64_t hp_syscall(uint64_t nr, uint64_t a, uint64_t b, uint64_t via)
{
    if (nr == HP_SYS_EXIT) {
        hp_leave_user(a);
    }
    kernel_calls++;
    kernel_log = hp_syscall_log(kernel_log, via, nr, a, b);
    return hp_syscall_result(nr, a, b, kernel_calls);
}

/* ---- ring 3 ---- */

static uint64_t call_syscall(uint64_t nr, uint64_t a, uint64_t b)
{
    uint64_t ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return ret;
}

static uint64_t call_int80(uint64_t nr, uint64_t a, uint64_t b)
{
    uint64_t ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "memory");
    return ret;
}

/* SYSENTER saves nothing: the caller passes its stack in %rcx and the
 * return address in %rdx, which SYSEXIT restores. */
static uint64_t call_sysenter(uint64_t nr, uint64_t a, uint64_t b)
{
    uint64_t ret;
    __asm__ volatile("mov %%rsp, %%rcx\n\t"
                     "lea 1f(%%rip), %%rdx\n\t"
                     "sysenter\n"
                     "1:"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b)
                     : "rcx", "rdx", "memory");
    return ret;
}

static void user_main(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t nr = 1 + i % 4;
        uint64_t ret;
        switch (i % 3) {
        case HP_VIA_SYSCALL: ret = call_syscall(nr, i, acc); break;
        case HP_VIA_INT80: ret = call_int80(nr, i, acc); break;
        default: ret = call_sysenter(nr, i, acc); break;
        }
        acc = acc * 31 + ret;
    }
    call_syscall(HP_SYS_EXIT, acc, 0);
    for (;;) {
    }
}

/* ---- set-up ---- */

static int cpu_is_intel(void)
{
    uint32_t a, b, c, d;
    cpuid(0, &a, &b, &c, &d);
    return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* GenuineIntel */
}

uint64_t workload_user(uint64_t n)
{
    if (!cpu_is_intel()) {
        hp_fail(HP_EXIT_WORKLOAD_FAILED,
                "user: SYSENTER is invalid in 64-bit mode on this CPU's vendor (not GenuineIntel); "
                "run with an Intel CPU model, e.g. -cpu qemu64,vendor=GenuineIntel");
    }
    wrmsr(MSR_STAR, ((uint64_t)SEL_USER_CODE32 << 48) | ((uint64_t)SEL_KERNEL_CODE << 32));
    wrmsr(MSR_LSTAR, (uint64_t)hp_syscall_entry);
    wrmsr(MSR_SFMASK, 0x200); /* IF stays clear in the kernel */
    wrmsr(MSR_SYSENTER_CS, SEL_KERNEL_CODE);
    wrmsr(MSR_SYSENTER_ESP, hp_kernel_stack_top);
    wrmsr(MSR_SYSENTER_EIP, (uint64_t)hp_sysenter_entry);
    cpu_enable_int80();

    kernel_log = HP_FNV_OFFSET;
    kernel_calls = 0;
    /* user_main starts as if called: its stack is 8 below a 16-byte boundary. */
    uint64_t acc = hp_run_user(user_main, n, user_stack + sizeof user_stack - 8);
    if (kernel_calls != n) {
        hp_fail(HP_EXIT_WORKLOAD_FAILED, "user: the kernel saw a different number of system calls than ring 3 made");
    }
    return hp_fnv_u64(kernel_log, acc);
}
