/*
 * The plugin runtime on QEMU: the host services it needs (runtime/host.h)
 * and the command-line options, shared by the system emulator and
 * linux-user. Start-up and shut-down differ between the two: host_system.c
 * and user.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "exec/exec-all.h"
#include "hw/core/cpu.h"
#include "sysemu/tcg.h"

#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/llvm/engine.h"
#include "hypanda/tcg-instrument/runtime/host.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

void hypanda_host_error(const char *message)
{
    error_report("%s", message);
}

void hypanda_host_info(const char *message)
{
    info_report("%s", message);
}

bool hypanda_host_on_vcpu_thread(void)
{
    return current_cpu != NULL;
}

typedef struct SafeWork {
    void (*fn)(void *data);
    void *data;
} SafeWork;

static void run_safe_work(CPUState *cpu, run_on_cpu_data arg)
{
    SafeWork *work = arg.host_ptr;
    work->fn(work->data);
    g_free(work);
}

void hypanda_host_at_safe_point(void (*fn)(void *data), void *data)
{
    SafeWork *work = g_new(SafeWork, 1);
    work->fn = fn;
    work->data = data;
    async_safe_run_on_cpu(current_cpu, run_safe_work, RUN_ON_CPU_HOST_PTR(work));
}

void hypanda_host_flush_translations(void)
{
    if (tcg_enabled() && first_cpu != NULL) {
        tb_flush(first_cpu);
    }
}

void hypanda_host_plugin_unloading(void *handle)
{
    hypanda_llvm_plugin_unloading(handle);
}

const char *hypanda_host_binary_dir(void)
{
    return qemu_get_exec_dir();
}

void hypanda_cmdline_panda(const char *optarg)
{
    if (hypanda_option_panda(optarg) < 0) {
        exit(1);
    }
}

void hypanda_cmdline_panda_plugin(const char *optarg)
{
    if (hypanda_option_panda_plugin(optarg) < 0) {
        exit(1);
    }
}

void hypanda_cmdline_panda_arg(const char *optarg)
{
    if (hypanda_option_panda_arg(optarg) < 0) {
        exit(1);
    }
}
