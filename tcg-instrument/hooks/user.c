/*
 * The plugin runtime in linux-user mode (hypanda-x86_64): start-up and
 * exit, the user_before_syscall/user_after_syscall callbacks around every
 * guest system call, and guest memory as one process sees it.
 *
 * What differs from the system emulator, and why:
 * - there is no physical memory: panda_virt_to_phys and
 *   panda_physical_memory_rw fail (-1), panda_memsavep prints an error;
 * - the memory callbacks see the program's own loads and stores (memory.c),
 *   not the accesses QEMU's C code makes for it, and never the physical ones;
 * - there is no monitor: the monitor callback never runs, and
 *   panda_monitor_printf writes to standard output.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "cpu.h"
#include "exec/exec-all.h"

#include "hypanda/llvm/engine.h"
#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/host.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

static bool exit_requested;

static void unload_at_exit(void)
{
    hypanda_unload_all_plugins(false);
}

void hypanda_user_startup(const char *argv0)
{
    /* linux-user does not set this up itself; the plugin search starts in
     * <bindir>/panda_plugins. */
    qemu_init_exec_dir(argv0);
    atexit(unload_at_exit);
    if (hypanda_load_startup_plugins() < 0) {
        exit(1);
    }
    if (exit_requested) {
        exit(0);
    }
}

void hypanda_user_exit(void)
{
    hypanda_llvm_exiting();
    hypanda_unload_all_plugins(false);
}

static void exit_at_safe_point(void *data)
{
    (void)data;
    exit(0);
}

void hypanda_host_request_exit(void)
{
    /* From a callback: leave once the current block is done, with no
     * callback on the stack; from init_plugin: once start-up is over. */
    if (hypanda_host_on_vcpu_thread()) {
        hypanda_host_at_safe_point(exit_at_safe_point, NULL);
    } else {
        exit_requested = true;
    }
}

void hypanda_user_before_syscall(CPUState *cpu, const void *fcntl_flags_tbl, int num,
                                 int64_t arg1, int64_t arg2, int64_t arg3, int64_t arg4,
                                 int64_t arg5, int64_t arg6, int64_t arg7, int64_t arg8)
{
    if (!hypanda_wants(PANDA_CB_USER_BEFORE_SYSCALL)) {
        return;
    }
    bitmask_transtbl *table = (bitmask_transtbl *)fcntl_flags_tbl;
    /* The guest's PC is already past the system-call instruction. */
    DISPATCH(PANDA_CB_USER_BEFORE_SYSCALL, panda_current_pc(cpu),
             c->cb.user_before_syscall(cpu, table, num, arg1, arg2, arg3, arg4, arg5, arg6,
                                       arg7, arg8));
}

void hypanda_user_after_syscall(CPUState *cpu, const void *fcntl_flags_tbl, int num,
                                int64_t arg1, int64_t arg2, int64_t arg3, int64_t arg4,
                                int64_t arg5, int64_t arg6, int64_t arg7, int64_t arg8,
                                int64_t ret)
{
    if (!hypanda_wants(PANDA_CB_USER_AFTER_SYSCALL)) {
        return;
    }
    bitmask_transtbl *table = (bitmask_transtbl *)fcntl_flags_tbl;
    DISPATCH(PANDA_CB_USER_AFTER_SYSCALL, panda_current_pc(cpu),
             c->cb.user_after_syscall(cpu, table, num, arg1, arg2, arg3, arg4, arg5, arg6,
                                      arg7, arg8, NULL, ret));
}

int panda_virtual_memory_rw(CPUState *cpu, target_ulong addr, uint8_t *buf, int len, int is_write)
{
    if (cpu == NULL || buf == NULL || len < 0) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    /* Check the whole range first, so a failure writes nothing. */
    if (page_check_range(addr, len, is_write ? PAGE_WRITE : PAGE_READ) < 0) {
        return -1;
    }
    return cpu_memory_rw_debug(cpu, addr, buf, len, is_write) == 0 ? 0 : -1;
}

target_ulong panda_virt_to_phys(CPUState *cpu, target_ulong addr)
{
    (void)cpu;
    (void)addr;
    return (target_ulong)-1;
}

target_ulong panda_virt_to_phys_tlb(CPUState *cpu, target_ulong addr, int mmu_idx, bool is_write)
{
    (void)cpu;
    (void)addr;
    (void)mmu_idx;
    (void)is_write;
    return (target_ulong)-1;
}

int panda_physical_memory_rw(target_phys_addr_t addr, uint8_t *buf, int len, int is_write)
{
    (void)addr;
    (void)buf;
    (void)len;
    (void)is_write;
    return -1;
}

void panda_memsavep(FILE *out)
{
    (void)out;
    error_report("panda_memsavep: linux-user mode has no physical memory to save");
}

void panda_monitor_printf(Monitor *mon, const char *fmt, ...)
{
    (void)mon;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

int panda_current_engine(void)
{
    return PANDA_ENGINE_TCG;
}

bool panda_request_engine(int engine)
{
    if (engine == PANDA_ENGINE_TCG) {
        return true;
    }
    error_report("panda_request_engine: linux-user mode runs in TCG only");
    return false;
}
