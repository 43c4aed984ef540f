/*
 * Record/replay (state.h): what a replay says. One line when it diverges or
 * ends wrong, a progress bar on a terminal, and the result file
 * (-replay-result, rr/result.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/exec-all.h"
#include "exec/ramblock.h"
#include "hw/boards.h"
#include "io/channel-buffer.h"
#include "migration/qemu-file.h"
#include "migration/snapshot.h"
#include "migration/vmstate.h"
#include "monitor/monitor.h"
#include "monitor/monitor-internal.h"
#include "qapi/error.h"
#include "qapi/qmp/dispatch.h"
#include "qapi/qmp/qdict.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "sysemu/cpus.h"
#include "sysemu/hw_accel.h"
#include "sysemu/runstate.h"
#include "sysemu/tcg.h"
#include "tcg/tcg.h"

#include <sys/mman.h>
#include <xxhash.h>

#include "hypanda/hypervisor/hybrid.h"
#include "hypanda/hypervisor/hypercall_device.h"
#include "hypanda/hypervisor/qmp_args.h"
#include "hypanda/include/panda/hypercall.h"
#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"
#include "hypanda/tcg-instrument/rr/system/state.h"

void hypanda_rr_describe(GString *s, uint8_t kind, uint32_t site, uint64_t addr, uint8_t size)
{
    g_string_append_printf(s, "%s (call site %u", hypanda_rr_kind_name(kind), site);
    if (kind == HYPANDA_RR_PORT_READ) {
        g_string_append_printf(s, ", port 0x%" PRIx64 ", %u bytes", addr, size);
    } else if (kind == HYPANDA_RR_MMIO_READ) {
        g_string_append_printf(s, ", address 0x%" PRIx64 ", %u bytes", addr, size);
    } else if (kind == HYPANDA_RR_INTERRUPT) {
        g_string_append_printf(s, ", request 0x%" PRIx64, addr);
    }
    g_string_append(s, ")");
}


/* On a terminal, replay shows how far it is (a main-loop timer). */
#define PROGRESS_MS 250
static QEMUTimer *progress_timer;
static bool progress_shown;

static void show_progress(void *opaque)
{
    const uint64_t total = hypanda_rr_replay_instructions(hypanda_rr.replay);
    const uint64_t done = MIN(qatomic_read(&first_cpu->hypanda_icount) - hypanda_rr_base, total);
    const int width = 40;
    const int filled = total == 0 ? width : (int)(done * width / total);
    fprintf(stderr, "\rreplay %s [%.*s%*s] %3d%% %" PRIu64 " / %" PRIu64 " instructions", hypanda_rr.replay_name,
            filled, "########################################", width - filled, "",
            total == 0 ? 100 : (int)(done * 100 / total), done, total);
    progress_shown = true;
    timer_mod(progress_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + PROGRESS_MS);
}

void hypanda_rr_start_progress(void)
{
    progress_timer = timer_new_ms(QEMU_CLOCK_REALTIME, show_progress, NULL);
    timer_mod(progress_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + PROGRESS_MS);
}

void hypanda_rr_clear_progress(void)
{
    if (progress_shown) {
        fprintf(stderr, "\r\033[K");
        progress_shown = false;
    }
}

/* Reports a replay's one error line and keeps it for -replay-result. */
void G_GNUC_PRINTF(1, 2) hypanda_rr_replay_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (hypanda_rr.result_error == NULL) {
        hypanda_rr.result_error = g_strdup(line);
    }
    error_report("%s", line);
    g_free(line);
}

/* At exit: the replay's outcome into the -replay-result file. */
void hypanda_rr_write_replay_result(void)
{
    char *err = NULL;
    const char *error = hypanda_rr.result_error;
    if (!hypanda_rr.result_verified && error == NULL) {
        error = "the emulator ended before the replay did";
    }
    if (!hypanda_rr_write_result(hypanda_rr.result_path, hypanda_rr.replay_name != NULL ? hypanda_rr.replay_name : "",
                                 hypanda_rr.result_verified, hypanda_rr.result_instructions,
                                 hypanda_rr.replay != NULL ? hypanda_rr_replay_instructions(hypanda_rr.replay) : 0,
                                 hypanda_rr.result_verified ? "" : error, &err)) {
        fprintf(stderr, "%s\n", err);
        free(err);
    }
}

/* Ends the emulator from the vCPU thread, as isa-debug-exit does: with
 * the BQL, so the main loop is not in the middle of something. */
G_NORETURN void hypanda_rr_end_replay(int status)
{
    if (!qemu_mutex_iothread_locked()) {
        qemu_mutex_lock_iothread();
    }
    exit(status);
}

/* Ends the replay: one line, exit status 1. */
G_NORETURN void hypanda_rr_diverged(CPUState *cpu, uint64_t icount, const char *what)
{
    CPUX86State *env = &X86_CPU(cpu)->env;
    const HypandaRrEvent *e = hypanda_rr_next_event();
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "replay %s diverged at instruction %" PRIu64 " (PC 0x" TARGET_FMT_lx
                           "): %s; the recording has ", hypanda_rr.replay_name, icount, env->eip, what);
    if (e == NULL) {
        g_string_append(s, "nothing more");
    } else {
        hypanda_rr_describe(s, e->kind, e->site, e->kind == HYPANDA_RR_INTERRUPT ? e->value : e->addr,
                 e->size);
        g_string_append_printf(s, " at instruction %" PRIu64, e->icount);
    }
    hypanda_rr_clear_progress();
    hypanda_rr.result_instructions = icount;
    hypanda_rr_replay_error("%s", s->str);
    g_string_free(s, true);
    hypanda_rr_end_replay(1);
}
