/*
 * Record/replay (state.h): -record-from, -replay and -replay-result, start-up,
 * the monitor's and QMP's begin/end, the guest's hypercalls, and the
 * recorded machine's options put in front of a replay's command line.
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

HypandaRrState hypanda_rr;
__thread bool hypanda_rr_in_device_access;
__thread uint64_t hypanda_rr_device_access_count;
__thread bool hypanda_rr_applying_log;

void hypanda_cmdline_record_from(const char *optarg)
{
    const char *colon = strrchr(optarg, ':');
    if (colon == NULL || colon[1] == '\0') {
        error_report("-record-from %s: expected SNAPSHOT:NAME (SNAPSHOT may be empty: "
                     "record from power-on)", optarg);
        exit(1);
    }
    hypanda_rr.record_from_snapshot = g_strndup(optarg, colon - optarg);
    hypanda_rr.record_from_name = g_strdup(colon + 1);
}

void hypanda_cmdline_replay(const char *optarg)
{
    if (hypanda_rr.replay_args_error != NULL) {
        /* QEMU's location prefixes "-replay NAME: " on the terminal; the
         * result file gets the same line. */
        hypanda_rr.result_error = g_strdup_printf("-replay %s: %s", optarg, hypanda_rr.replay_args_error);
        hypanda_rr.replay_name = g_strdup(optarg);
        error_report("%s", hypanda_rr.replay_args_error);
        exit(1);
    }
    hypanda_rr.replay_name = g_strdup(optarg);
}

void hypanda_cmdline_replay_result(const char *optarg)
{
    /* Taken before the options are parsed (hypanda_rr_replay_arguments),
     * so that every way a replay ends is in the file. */
}

static bool rr_guest_begin(const char *name);
static uint32_t rr_guest_end(void);

/* Hybrid mode's switches: a recording asked for under KVM begins once the
 * guest is in TCG; a recording ends when the guest leaves TCG. */
static void on_engine_change(Notifier *notifier, void *data)
{
    const HypandaEngineChange *change = data;
    if (change->event == HYPANDA_ENGINE_ENTERED_TCG) {
        hypanda_rr_entered_tcg(change->cpu);
    } else if (change->event == HYPANDA_ENGINE_LEAVING_TCG) {
        hypanda_rr_leaving_tcg(change->cpu);
    }
}

static Notifier engine_notifier = {.notify = on_engine_change};
static const HypandaRecorder guest_recorder = {.begin = rr_guest_begin, .end = rr_guest_end};

void hypanda_rr_startup(void)
{
    hypanda_hybrid_add_engine_notifier(&engine_notifier);
    hypanda_hypercall_set_recorder(&guest_recorder);
    hypanda_rr_devices_init();
    atexit(hypanda_rr_end_at_exit);
    if (hypanda_rr.replay_name != NULL && hypanda_rr.record_from_name != NULL) {
        error_report("-replay and -record-from cannot be used together");
        exit(1);
    }
    if (hypanda_rr.replay_name != NULL) {
        hypanda_rr_start_replay();
        return;
    }
    if (hypanda_rr.record_from_name != NULL) {
        Error *err = NULL;
        if (hypanda_rr.record_from_snapshot[0] != '\0' &&
            !load_snapshot(hypanda_rr.record_from_snapshot, NULL, false, NULL, &err)) {
            error_prepend(&err, "-record-from %s:%s: ", hypanda_rr.record_from_snapshot, hypanda_rr.record_from_name);
            error_report_err(err);
            exit(1);
        }
        if (!hypanda_rr_can_begin("-record-from", hypanda_rr.record_from_name, &err)) {
            error_report_err(err);
            exit(1);
        }
        if (hypanda_hybrid_engine() == PANDA_ENGINE_KVM) {
            hypanda_rr.pending = g_strdup(hypanda_rr.record_from_name);
            info_report("recording %s: starts when the guest switches to TCG", hypanda_rr.pending);
        } else if (!hypanda_rr_begin_now(first_cpu, hypanda_rr.record_from_name, &err)) {
            error_report_err(err);
            exit(1);
        }
    }
}

static bool rr_guest_begin(const char *name)
{
    Error *err = NULL;
    if (!hypanda_rr_begin_record(name, false, &err)) {
        warn_report_err(err);
        return false;
    }
    hypanda_rr.guest_began = true;
    return true;
}

/* A guest ends only the recording it began: one the host began (QMP,
 * the monitor, -record-from) is the analyst's, and the guest under
 * analysis must not cut it short. */
static uint32_t rr_guest_end(void)
{
    const char *name = hypanda_rr.pending != NULL ? hypanda_rr.pending : hypanda_rr.name;
    if (name != NULL && !hypanda_rr.guest_began) {
        warn_report("the guest's END_RECORD hypercall: recording %s was begun by the host, not the guest; "
                    "it goes on", name);
        return HYPANDA_HC_ERR_FORBIDDEN;
    }
    if (hypanda_rr.pending != NULL || hypanda_rr_mode != HYPANDA_RR_RECORDING) {
        Error *err = NULL;
        const bool ok = hypanda_rr_end_record(&err);
        if (!ok) {
            warn_report_err(err);
        }
        return ok ? HYPANDA_HC_OK : HYPANDA_HC_ERR_UNAVAILABLE;
    }
    /* On the vCPU thread, inside the hypercall's port read: the recording
     * ends before that instruction. */
    hypanda_rr_end_now(hypanda_rr_in_device_access ? hypanda_rr_device_access_count : hypanda_rr_count_at(current_cpu, 0));
    return HYPANDA_HC_OK;
}

void hmp_begin_record(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;
    const char *name = qdict_get_str(qdict, "name");
    if (hypanda_rr_begin_record(name, true, &err)) {
        monitor_printf(mon, hypanda_hybrid_engine() == PANDA_ENGINE_KVM
                                ? "recording %s: starts when the guest switches to TCG\n"
                                : "recording %s: started\n",
                       name);
    } else {
        monitor_printf(mon, "error: %s\n", error_get_pretty(err));
        error_free(err);
    }
}

void hmp_end_record(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;
    if (hypanda_rr_end_record(&err)) {
        monitor_printf(mon, "recording ended\n");
    } else {
        monitor_printf(mon, "error: %s\n", error_get_pretty(err));
        error_free(err);
    }
}

static void qmp_begin_record(QDict *args, QObject **ret, Error **errp)
{
    static const char *const spec[] = {"name:s", NULL};
    if (hypanda_qmp_check_args("begin-record", args, spec, errp)) {
        hypanda_rr_begin_record(qdict_get_str(args, "name"), true, errp);
    }
}

static void qmp_end_record(QDict *args, QObject **ret, Error **errp)
{
    static const char *const spec[] = {NULL};
    if (hypanda_qmp_check_args("end-record", args, spec, errp)) {
        hypanda_rr_end_record(errp);
    }
}

void hypanda_rr_register_qmp(void)
{
    qmp_register_command(&qmp_commands, "begin-record", qmp_begin_record, 0, 0);
    qmp_register_command(&qmp_commands, "end-record", qmp_end_record, 0, 0);
}

void hypanda_rr_replay_arguments(int *argc, char ***argv)
{
    hypanda_rr.argc = *argc;
    hypanda_rr.argv = g_new0(char *, *argc + 1);
    for (int i = 0; i < *argc; i++) {
        hypanda_rr.argv[i] = g_strdup((*argv)[i]);
    }
    const char *name = NULL;
    for (int i = 1; i + 1 < *argc; i++) {
        if (strcmp((*argv)[i], "-replay") == 0 || strcmp((*argv)[i], "--replay") == 0) {
            name = (*argv)[i + 1];
        } else if ((strcmp((*argv)[i], "-replay-result") == 0 ||
                    strcmp((*argv)[i], "--replay-result") == 0) && hypanda_rr.result_path == NULL) {
            hypanda_rr.result_path = g_strdup((*argv)[i + 1]);
            atexit(hypanda_rr_write_replay_result);
        }
    }
    if (name == NULL) {
        return;
    }
    int n = 0;
    char *err = NULL;
    char **machine = hypanda_rr_replay_machine_args(name, &n, &err);
    if (machine == NULL) {
        /* Said when -replay is parsed: QEMU cannot exit this early. */
        hypanda_rr.replay_args_error = err;
        return;
    }
    /* Lives as long as the emulator, as argv does. */
    char **args = g_new0(char *, *argc + n + 1);
    args[0] = (*argv)[0];
    memcpy(args + 1, machine, n * sizeof(char *));
    memcpy(args + 1 + n, *argv + 1, (*argc - 1) * sizeof(char *));
    free(machine);
    *argc += n;
    *argv = args;
}
