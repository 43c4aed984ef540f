/*
 * Hybrid mode as the monitor and the statistics see it: the QMP event each
 * switch sends, the latency log, HMP hybrid_switch and info hybrid, QMP
 * hybrid-switch and query-hybrid, and the -hybrid stats=FILE written at exit.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "cpu.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qmp/dispatch.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qjson.h"
#include "qapi/qmp/qnum.h"
#include "monitor/monitor.h"
#include "monitor/monitor-internal.h"

#include "hypanda/hypervisor/hybrid.h"
#include "hypanda/hypervisor/hybrid_hooks.h"
#include "hypanda/hypervisor/hybrid_int.h"
#include "hypanda/hypervisor/qmp_args.h"
#include "hypanda/include/panda/hypercall.h"

static QDict *hybrid_info(void);

/* ---- Events and statistics --------------------------------------------------- */

void hybrid_emit_switch_event(int engine, uint64_t latency_ns)
{
    QDict *event = qdict_new();
    int64_t now = g_get_real_time();
    QDict *ts = qdict_new();
    qdict_put_int(ts, "seconds", now / G_USEC_PER_SEC);
    qdict_put_int(ts, "microseconds", now % G_USEC_PER_SEC);
    qdict_put(event, "timestamp", ts);
    qdict_put_str(event, "event", "HYPANDA_ENGINE_SWITCH");
    QDict *data = qdict_new();
    qdict_put_str(data, "engine", hybrid_engine_name(engine));
    qdict_put_str(data, "trigger", hybrid.trigger ? hybrid.trigger : "unknown");
    qdict_put_int(data, "latency-ns", latency_ns);
    qdict_put_int(data, "switches",
                  hybrid.switches[HYPANDA_ENGINE_TCG] + hybrid.switches[HYPANDA_ENGINE_KVM]);
    qdict_put(event, "data", data);

    qemu_mutex_lock(&monitor_lock);
    Monitor *mon;
    QTAILQ_FOREACH(mon, &mon_list, entry) {
        if (monitor_is_qmp(mon)) {
            MonitorQMP *qmp = container_of(mon, MonitorQMP, common);
            if (qmp->commands != &qmp_cap_negotiation_commands) {
                qmp_send_response(qmp, event);
            }
        }
    }
    qemu_mutex_unlock(&monitor_lock);
    qobject_unref(event);
}

void hybrid_log_latency(int engine, uint64_t ns)
{
    LatencyLog *log = &hybrid.latency[engine];
    log->last_ns = ns;
    log->ns[log->count % LATENCY_SAMPLES] = ns;
    log->count++;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Median and 99th percentile of the kept samples (nearest rank). */
static void latency_stats(int engine, uint64_t *median, uint64_t *p99, uint64_t *n)
{
    const LatencyLog *log = &hybrid.latency[engine];
    *n = MIN(log->count, LATENCY_SAMPLES);
    *median = *p99 = 0;
    if (*n == 0) {
        return;
    }
    g_autofree uint64_t *v = g_memdup2(log->ns, *n * sizeof(uint64_t));
    qsort(v, *n, sizeof(uint64_t), compare_u64);
    *median = v[(*n - 1) / 2];
    *p99 = v[(*n * 99 + 99) / 100 - 1];
}

/* -hybrid ...,stats=FILE: the statistics of query-hybrid, as JSON, when
 * the emulator exits (also through exit() from a device). */
void hybrid_write_stats(void)
{
    QDict *info = hybrid_info();
    GString *json = qobject_to_json_pretty(QOBJECT(info), true);
    g_autoptr(GError) err = NULL;
    g_string_append_c(json, '\n');
    if (!g_file_set_contents(hybrid.stats_path, json->str, json->len, &err)) {
        error_report("-hybrid stats=%s: %s", hybrid.stats_path, err->message);
    }
    g_string_free(json, true);
    qobject_unref(info);
}

/* ---- Monitor -------------------------------------------------------------------- */

static int parse_engine(const char *name)
{
    if (strcmp(name, "tcg") == 0) {
        return HYPANDA_ENGINE_TCG;
    }
    if (strcmp(name, "kvm") == 0) {
        return HYPANDA_ENGINE_KVM;
    }
    return 0;
}

/* Asks for a switch from a monitor and waits until it has happened (the
 * monitor runs in the main thread, which holds the BQL: the vCPU does the
 * switch work while the main loop is released in the wait). */
static const char *monitor_switch(const char *name)
{
    int engine = parse_engine(name);
    if (engine == 0) {
        return "engine must be 'tcg' or 'kvm'";
    }
    const char *err = hypanda_hybrid_request(engine, "monitor");
    if (err != NULL) {
        return err;
    }
    /* The vCPU does queued work even while the guest is stopped. */
    for (int waited = 0; qatomic_read(&hybrid.pending) > 0; waited += 10) {
        if (waited >= 10000) {
            return "the vCPU did not take the switch within 10 s";
        }
        qemu_cond_timedwait_iothread(hybrid.cpu->halt_cond, 10);
    }
    return NULL;
}

void hmp_hybrid_switch(Monitor *mon, const QDict *qdict)
{
    const char *err = monitor_switch(qdict_get_str(qdict, "engine"));
    if (err != NULL) {
        monitor_printf(mon, "error: %s\n", err);
    } else {
        monitor_printf(mon, "engine %s\n", hybrid_engine_name(hypanda_hybrid_engine()));
    }
}

static QDict *hybrid_info(void)
{
    QDict *d = qdict_new();
    qdict_put_bool(d, "hybrid", hybrid.on);
    qdict_put_str(d, "engine", hybrid_engine_name(hypanda_hybrid_engine()));
    uint64_t now = get_clock();
    for (int e = HYPANDA_ENGINE_TCG; e <= HYPANDA_ENGINE_KVM; e++) {
        g_autofree char *prefix = g_strdup(hybrid_engine_name(e));
        uint64_t ns = hybrid.engine_ns[e];
        if (hybrid.on && hybrid.engine == e) {
            ns += now - hybrid.engine_since;
        }
        uint64_t median, p99, n;
        latency_stats(e, &median, &p99, &n);
        QDict *x = qdict_new();
        qdict_put_int(x, "switches-to", hybrid.switches[e]);
        qdict_put_int(x, "time-ns", ns);
        qdict_put_int(x, "last-latency-ns", hybrid.latency[e].last_ns);
        qdict_put_int(x, "median-latency-ns", median);
        qdict_put_int(x, "p99-latency-ns", p99);
        qdict_put_int(x, "latency-samples", n);
        qdict_put(d, prefix, x);
    }
    return d;
}

void hmp_info_hybrid(Monitor *mon, const QDict *qdict)
{
    if (!hybrid.on) {
        monitor_printf(mon, "hybrid mode off; engine %s\n",
                       hybrid_engine_name(hypanda_hybrid_engine()));
        return;
    }
    QDict *d = hybrid_info();
    monitor_printf(mon, "engine %s\n", qdict_get_str(d, "engine"));
    monitor_printf(mon, "switches %" PRIu64 " (to tcg %" PRIu64 ", to kvm %" PRIu64 ")\n",
                   hybrid.switches[HYPANDA_ENGINE_TCG] + hybrid.switches[HYPANDA_ENGINE_KVM],
                   hybrid.switches[HYPANDA_ENGINE_TCG], hybrid.switches[HYPANDA_ENGINE_KVM]);
    for (int e = HYPANDA_ENGINE_TCG; e <= HYPANDA_ENGINE_KVM; e++) {
        QDict *x = qdict_get_qdict(d, hybrid_engine_name(e));
        monitor_printf(mon, "time in %s %.6f s\n", hybrid_engine_name(e),
                       qdict_get_int(x, "time-ns") / 1e9);
    }
    for (int e = HYPANDA_ENGINE_TCG; e <= HYPANDA_ENGINE_KVM; e++) {
        QDict *x = qdict_get_qdict(d, hybrid_engine_name(e));
        monitor_printf(mon, "switch to %s latency: last %.1f us, median %.1f us, "
                       "p99 %.1f us over %" PRId64 "\n", hybrid_engine_name(e),
                       qdict_get_int(x, "last-latency-ns") / 1e3,
                       qdict_get_int(x, "median-latency-ns") / 1e3,
                       qdict_get_int(x, "p99-latency-ns") / 1e3,
                       qdict_get_int(x, "latency-samples"));
    }
    qobject_unref(d);
}

static void qmp_hybrid_switch(QDict *args, QObject **ret, Error **errp)
{
    static const char *const spec[] = {"engine:s", NULL};
    if (!hypanda_qmp_check_args("hybrid-switch", args, spec, errp)) {
        return;
    }
    const char *err = monitor_switch(qdict_get_str(args, "engine"));
    if (err != NULL) {
        error_setg(errp, "hybrid-switch: %s", err);
        return;
    }
    *ret = QOBJECT(hybrid_info());
}

static void qmp_query_hybrid(QDict *args, QObject **ret, Error **errp)
{
    static const char *const spec[] = {NULL};
    if (!hypanda_qmp_check_args("query-hybrid", args, spec, errp)) {
        return;
    }
    *ret = QOBJECT(hybrid_info());
}

void hybrid_register_qmp(void)
{
    qmp_register_command(&qmp_commands, "hybrid-switch", qmp_hybrid_switch, 0, 0);
    qmp_register_command(&qmp_commands, "query-hybrid", qmp_query_hybrid, 0, 0);
}
