/*
 * hptest: Hypanda's freestanding x86-64 test guest. Its -append command line
 * names workloads (cmdline.h); each prints exactly one line
 *   RESULT <workload> <value>
 * whose value model.h defines exactly, then the guest ends the run through
 * isa-debug-exit with code 0. Bad arguments print one "ERROR ..." line and
 * end with code 1; a failed workload with 2; a CPU exception with 3.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stddef.h>
#include <stdint.h>

#include "cmdline.h"
#include "console.h"
#include "cpu.h"
#include "model.h"
#include "workloads.h"

#define MULTIBOOT_INFO_CMDLINE (1u << 2)

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower;
    uint32_t mem_upper;
    uint32_t boot_device;
    uint32_t cmdline;
};

/* The compiler may emit calls to these for struct copies and clears. */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    while (n-- > 0) {
        *d++ = (uint8_t)c;
    }
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n-- > 0) {
        *d++ = *s++;
    }
    return dst;
}

static void report(enum hp_workload_kind kind, uint64_t value)
{
    con_puts("RESULT ");
    con_puts(hp_workload_name(kind));
    con_puts(" ");
    if (kind == HP_WORKLOAD_COUNT || kind == HP_WORKLOAD_TIMER || kind == HP_WORKLOAD_HYPERCALL ||
        kind == HP_WORKLOAD_WINDOW || kind == HP_WORKLOAD_LLVMWINDOW || kind == HP_WORKLOAD_TIMERSWITCH ||
        kind == HP_WORKLOAD_SWITCHLAT || kind == HP_WORKLOAD_BRACKET) {
        con_put_dec(value);
    } else {
        con_put_hex(value);
    }
    con_puts("\n");
}

static uint64_t run(const struct hp_workload *w)
{
    switch (w->kind) {
    case HP_WORKLOAD_COUNT: return hp_count_loop(w->arg);
    case HP_WORKLOAD_MEM: return workload_mem(w->arg);
    case HP_WORKLOAD_USER: return workload_user(w->arg);
    case HP_WORKLOAD_TIMER: return workload_timer(w->arg);
    case HP_WORKLOAD_IO: return workload_io(w->arg);
    case HP_WORKLOAD_DISK: return workload_disk(w->arg);
    case HP_WORKLOAD_HYPERCALL: return hp_hypercall_loop(w->arg);
    case HP_WORKLOAD_FAULT: return workload_fault(w->arg);
    case HP_WORKLOAD_CROSS: return workload_cross(w->arg);
    case HP_WORKLOAD_ALIAS: return workload_alias(w->arg);
    case HP_WORKLOAD_SWITCH: return workload_switch(w->arg, true);
    case HP_WORKLOAD_SWITCHGPR: return workload_switch(w->arg, false);
    case HP_WORKLOAD_WINDOW: return workload_window(w->arg);
    case HP_WORKLOAD_LLVMWINDOW: return workload_llvmwindow(w->arg);
    case HP_WORKLOAD_BRACKET: return workload_bracket(w->arg);
    case HP_WORKLOAD_DISKDMA: return workload_diskdma(w->arg);
    case HP_WORKLOAD_PATCH: return hp_patch_loop(w->arg);
    case HP_WORKLOAD_TAINTFLOW: return workload_taintflow(w->arg);
    case HP_WORKLOAD_TAINTBAD: return workload_taintbad(w->arg);
    case HP_WORKLOAD_TIMERSWITCH: return workload_timerswitch(w->arg);
    case HP_WORKLOAD_SWITCHLAT: return workload_switchlat(w->arg);
    case HP_WORKLOAD_SMC: return workload_smc(w->arg);
    case HP_WORKLOAD_MSRSWITCH: return workload_msrswitch(w->arg);
    case HP_WORKLOAD_FPUSWITCH: return workload_fpuswitch(w->arg);
    case HP_WORKLOAD_FPUSTATE: return workload_fpustate(w->arg);
    case HP_WORKLOAD_SWITCHTO: return hp_hybrid_call(w->arg == HYPANDA_ENGINE_TCG ? HYPANDA_HC_SWITCH_TO_TCG
                                                                                  : HYPANDA_HC_SWITCH_TO_KVM);
    default: hp_fail(HP_EXIT_BAD_ARGUMENTS, "internal: unknown workload kind");
    }
}

void hp_main(uint32_t mbi_address);
void hp_main(uint32_t mbi_address)
{
    cpu_init();

    const struct multiboot_info *mbi = (const struct multiboot_info *)(uintptr_t)mbi_address;
    const char *cmdline = "";
    if (mbi_address != 0 && (mbi->flags & MULTIBOOT_INFO_CMDLINE) && mbi->cmdline != 0) {
        cmdline = hp_skip_kernel_name((const char *)(uintptr_t)mbi->cmdline);
    }

    struct hp_workload workloads[HP_MAX_WORKLOADS];
    char err[512];
    int n = hp_parse_cmdline(cmdline, workloads, err, sizeof err);
    if (n < 0) {
        hp_fail(HP_EXIT_BAD_ARGUMENTS, err);
    }
    for (int i = 0; i < n; i++) {
        report(workloads[i].kind, run(&workloads[i]));
    }
    hp_exit(HP_EXIT_OK);
}
