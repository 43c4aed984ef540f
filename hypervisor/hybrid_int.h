/*
 * Hybrid mode's state, shared by the files of the hybrid accelerator and
 * private to hypervisor/: the switch and the vCPU loop (hybrid.c), the x86
 * state transfer (x86_state.c), the monitor commands, events and
 * statistics (hybrid_monitor.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_HYPERVISOR_HYBRID_INT_H
#define HYPANDA_HYPERVISOR_HYBRID_INT_H

#include "qemu/notify.h"
#include "sysemu/accel-ops.h"

/* Latencies kept for the median and 99th percentile (info hybrid). */
#define LATENCY_SAMPLES 4096
#define MAX_BREAKS 4 /* x86 debug registers */

typedef struct LatencyLog {
    uint64_t last_ns;
    uint64_t count;
    uint64_t ns[LATENCY_SAMPLES]; /* ring */
} LatencyLog;

typedef struct HybridState {
    bool requested;         /* -hybrid on */
    bool on;                /* set up and running */
    int start_engine;
    int engine;             /* HYPANDA_ENGINE_*, read by other threads */
    int pending;            /* switches queued on the vCPU, not yet done */
    CPUState *cpu;
    AccelOpsClass kvm_ops;  /* the KVM operations taken over */
    int64_t tsc_delta;      /* TCG's TSC = host ticks + tsc_delta */
    target_ulong tcg_dr7;   /* DR7 that TCG's breakpoint list reflects */
    uint64_t switches[3];   /* by target engine */
    uint64_t engine_since;  /* get_clock() when the current engine began */
    uint64_t engine_ns[3];
    int64_t request_ns;     /* when the queued switch was asked for */
    const char *trigger;
    LatencyLog latency[3];  /* by target engine */
    uint64_t breaks[MAX_BREAKS];
    int nbreaks;
    Notifier force_rcu;
    char *stats_path;       /* -hybrid ...,stats=FILE: query-hybrid at exit */
    bool keep_tbs;          /* -hybrid ...,keep-tbs=on: see enter_tcg() */
} HybridState;

extern HybridState hybrid;

/* "tcg" or "kvm". */
const char *hybrid_engine_name(int engine);

/* x86_state.c: the vCPU's state out of KVM into QEMU's copy, with what
 * TCG derives from it (enter_tcg), and back (enter_kvm); TCG's TSC. On the
 * vCPU thread, under the BQL, between two runs of the engines. */
void hybrid_enter_tcg(CPUState *cpu);
void hybrid_enter_kvm(CPUState *cpu);
int64_t hybrid_elapsed_ticks(void);

/* hybrid_monitor.c: what each switch reports (QMP event, latency log),
 * the monitor commands, and the statistics file written at exit. */
void hybrid_emit_switch_event(int engine, uint64_t latency_ns);
void hybrid_log_latency(int engine, uint64_t ns);
void hybrid_register_qmp(void);
void hybrid_write_stats(void);

#endif
