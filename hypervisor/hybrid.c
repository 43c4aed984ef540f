/*
 * The hybrid accelerator: one guest, one process, two engines. The guest
 * runs under KVM; on request its vCPU continues in QEMU's TCG translator,
 * where Hypanda's plugin callbacks run, and later goes back to KVM. Guest
 * RAM and every device are shared: a switch moves CPU state only.
 *
 *   -accel kvm -hybrid on[,start=kvm|tcg] [-hybrid-break ADDR]...
 *
 * How it fits into QEMU 7.2 (docs/hybrid.md has the full story):
 * - KVM stays the accelerator. TCG is initialised next to it before the
 *   CPUs exist, and every x86 CPU class gets TCG's operations.
 * - The KVM accelerator's vCPU operations are taken over: the vCPU thread
 *   runs kvm_cpu_exec() or tcg_cpus_exec() depending on the engine, a kick
 *   also stops TCG, and state synchronisation only talks to KVM while the
 *   vCPU is in KVM.
 * - A switch is work queued on the vCPU (async_run_on_cpu): it runs on the
 *   vCPU thread under the BQL, outside KVM_RUN and cpu_exec. By then any
 *   port I/O that caused the request has been completed by a KVM_RUN.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "cpu.h" /* first: names the CPU type accel-cpu.h uses */
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/guest-random.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qmp/dispatch.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qjson.h"
#include "qapi/qmp/qlist.h"
#include "qapi/qmp/qnum.h"
#include "hw/boards.h"
#include "hw/core/accel-cpu.h"
#include "hw/i386/x86.h"
#include "monitor/monitor.h"
#include "monitor/monitor-internal.h"
#include "sysemu/accel-ops.h"
#include "sysemu/cpus.h"
#include "sysemu/cpu-timers.h"
#include "sysemu/hw_accel.h"
#include "sysemu/kvm.h"
#include "sysemu/kvm_int.h"
#include "sysemu/tcg.h"
#include "exec/exec-all.h"
#include "exec/gdbstub.h"
#include "exec/ram_addr.h"
#include "tcg/tcg.h"
#include "accel/kvm/kvm-cpus.h"
#include "accel/tcg/internal.h"
#include "accel/tcg/tcg-accel-ops.h"

#include "hypanda/hypervisor/hybrid.h"
#include "hypanda/hypervisor/hybrid_hooks.h"
#include "hypanda/include/panda/hypercall.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/rr_hooks.h"

/* Latencies kept for the median and 99th percentile (info hybrid). */
#define LATENCY_SAMPLES 4096
#define MAX_BREAKS 4 /* x86 debug registers */

typedef struct LatencyLog {
    uint64_t last_ns;
    uint64_t count;
    uint64_t ns[LATENCY_SAMPLES]; /* ring */
} LatencyLog;

static struct {
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
} hybrid = {
    .start_engine = HYPANDA_ENGINE_KVM,
    .engine = HYPANDA_ENGINE_KVM,
};

static const char *engine_name(int engine)
{
    return engine == HYPANDA_ENGINE_TCG ? "tcg" : "kvm";
}

/* ---- Command line ---------------------------------------------------------- */

/* Error messages from option parsing need not name the option: QEMU's
 * error_report() prefixes the option being parsed. */
void hypanda_cmdline_hybrid(const char *optarg)
{
    g_auto(GStrv) items = g_strsplit(optarg, ",", -1);
    for (char **item = items; *item != NULL; item++) {
        const char *s = *item, *value;
        if (item == items && (strcmp(s, "on") == 0 || strcmp(s, "off") == 0)) {
            hybrid.requested = strcmp(s, "on") == 0;
        } else if (strcmp(s, "start=kvm") == 0) {
            hybrid.start_engine = HYPANDA_ENGINE_KVM;
        } else if (strcmp(s, "start=tcg") == 0) {
            hybrid.start_engine = HYPANDA_ENGINE_TCG;
        } else if (strcmp(s, "keep-tbs=on") == 0 || strcmp(s, "keep-tbs=off") == 0) {
            hybrid.keep_tbs = strcmp(s, "keep-tbs=on") == 0;
        } else if (strstart(s, "stats=", &value) && *value != '\0') {
            g_free(hybrid.stats_path);
            hybrid.stats_path = g_strdup(value);
        } else {
            error_report("'%s' is not understood "
                         "(expected on|off[,start=kvm|tcg][,keep-tbs=on|off][,stats=FILE])", s);
            exit(1);
        }
    }
}

void hypanda_cmdline_hybrid_break(const char *optarg)
{
    uint64_t addr;
    if (qemu_strtou64(optarg, NULL, 0, &addr) < 0) {
        error_report("'%s' is not an address", optarg);
        exit(1);
    }
    if (hybrid.nbreaks == MAX_BREAKS) {
        error_report("at most %d break addresses (x86 debug registers)", MAX_BREAKS);
        exit(1);
    }
    hybrid.breaks[hybrid.nbreaks++] = addr;
}

static bool configure_accel(AccelState *accel, MachineState *ms)
{
    if (!hybrid.requested) {
        if (hybrid.nbreaks > 0) {
            error_report("-hybrid-break needs -hybrid on");
            return false;
        }
        return true;
    }
    if (!object_dynamic_cast(OBJECT(accel), TYPE_KVM_ACCEL)) {
        error_report("-hybrid on needs the KVM accelerator (-accel kvm); this run uses %s",
                     object_get_typename(OBJECT(accel)));
        return false;
    }
    KVMState *s = KVM_STATE(accel);
    if (s->kernel_irqchip_required || s->kernel_irqchip_split == ON_OFF_AUTO_ON) {
        error_report("-hybrid on: the in-kernel interrupt controller cannot run under TCG; "
                     "leave kernel-irqchip unset or set it to off");
        return false;
    }
    s->kernel_irqchip_allowed = false;
    if (ms->smp.max_cpus > 1) {
        error_report("-hybrid on: one vCPU only (this machine has %u)", ms->smp.max_cpus);
        return false;
    }
    if (object_dynamic_cast(OBJECT(ms), TYPE_X86_MACHINE)) {
        X86MachineState *x86ms = X86_MACHINE(ms);
        if (x86ms->smm == ON_OFF_AUTO_ON) {
            error_report("-hybrid on: SMM is not supported in hybrid mode; use smm=off");
            return false;
        }
        x86ms->smm = ON_OFF_AUTO_OFF;
    }
    return true;
}

bool hypanda_hybrid_configure_accel(AccelState *accel, MachineState *ms)
{
    /* The messages name their option themselves, not the -accel being
     * processed. */
    Location loc;
    loc_push_none(&loc);
    bool ok = configure_accel(accel, ms);
    loc_pop(&loc);
    return ok;
}

/* ---- State transfer --------------------------------------------------------- */

/* TCG's time stamp counter: the host's, plus the offset that makes it
 * continue KVM's (cpu_get_tsc() for TCG; KVM reads its own). */
static int64_t hybrid_elapsed_ticks(void)
{
    return cpu_get_ticks() + qatomic_read(&hybrid.tsc_delta);
}

/* QEMU 7.2's KVM sync does not carry the interrupt shadow (STI, MOV SS):
 * read it from KVM, and set it back, here. */
static bool kvm_get_interrupt_shadow(CPUState *cpu, struct kvm_vcpu_events *events)
{
    memset(events, 0, sizeof(*events));
    return kvm_vcpu_ioctl(cpu, KVM_GET_VCPU_EVENTS, events) == 0 && events->interrupt.shadow != 0;
}

static void kvm_set_interrupt_shadow(CPUState *cpu)
{
    struct kvm_vcpu_events events;
    memset(&events, 0, sizeof(events));
    if (kvm_vcpu_ioctl(cpu, KVM_GET_VCPU_EVENTS, &events) < 0) {
        return;
    }
    events.interrupt.shadow = KVM_X86_SHADOW_INT_STI;
    events.flags = KVM_VCPUEVENT_VALID_SHADOW;
    kvm_vcpu_ioctl(cpu, KVM_SET_VCPU_EVENTS, &events);
}

/* What KVM had injected but not delivered becomes TCG's pending exception:
 * delivered once, by TCG. */
static void take_kvm_events(CPUState *cpu, CPUX86State *env)
{
    if (env->exception_nr >= 0 && (env->exception_injected || env->exception_pending)) {
        cpu->exception_index = env->exception_nr;
        env->error_code = env->has_error_code ? env->error_code : 0;
        env->exception_is_int = 0;
        env->exception_next_eip = env->eip;
    } else if (env->nmi_injected) {
        cpu->exception_index = EXCP02_NMI;
        env->exception_is_int = 0;
    } else if (env->interrupt_injected >= 0) {
        cpu->exception_index = env->interrupt_injected;
        env->exception_is_int = env->soft_interrupt;
        env->exception_next_eip = env->eip;
    }
    if (env->nmi_pending) {
        cpu->interrupt_request |= CPU_INTERRUPT_NMI;
    }
    env->exception_nr = -1;
    env->exception_pending = 0;
    env->exception_injected = 0;
    env->interrupt_injected = -1;
    env->nmi_injected = 0;
    env->nmi_pending = 0;
}

int hypanda_hybrid_kvm_dirty_log_mask(int mask)
{
    return hybrid.keep_tbs ? mask : mask & ~(1 << DIRTY_MEMORY_CODE);
}

/* The RAM pages holding translated code that were written since the code
 * was translated: TCG keeps a page's code-dirty bit clear while it holds
 * translations, and KVM's dirty log (synchronised first) sets it. */
static gboolean collect_written_code(gpointer key, gpointer value, gpointer data)
{
    const TranslationBlock *tb = value;
    GArray *pages = data;
    for (int i = 0; i < 2; i++) {
        tb_page_addr_t page = tb->page_addr[i];
        if (page != -1 && cpu_physical_memory_get_dirty_flag(page, DIRTY_MEMORY_CODE)) {
            g_array_append_val(pages, page);
        }
    }
    return false;
}

/* Drops the translations the guest may have overwritten under KVM. With
 * keep-tbs=on only those on pages KVM's dirty log reports as written;
 * otherwise all of them. */
static void drop_stale_translations(CPUState *cpu)
{
    if (!hybrid.keep_tbs) {
        start_exclusive();
        tb_flush(cpu);
        end_exclusive();
        return;
    }
    memory_global_dirty_log_sync();
    g_autoptr(GArray) pages = g_array_new(false, false, sizeof(tb_page_addr_t));
    tcg_tb_foreach(collect_written_code, pages);
    for (guint i = 0; i < pages->len; i++) {
        tb_page_addr_t page = g_array_index(pages, tb_page_addr_t, i) & TARGET_PAGE_MASK;
        tb_invalidate_phys_range(page, page + TARGET_PAGE_SIZE);
    }
}

/* KVM's FPU state (FXSAVE/XSAVE layout, and QEMU's copy of it in env)
 * holds the x87 registers in stack order, ST(0) first; TCG indexes them
 * physically, ST(i) = fpregs[(TOP + i) & 7]. The tag bits are physical in
 * both. Rotates env->fpregs between the two; `to_kvm` picks the direction. */
static void rotate_x87_registers(CPUX86State *env, bool to_kvm)
{
    FPReg regs[8];
    unsigned top = env->fpstt & 7;
    for (unsigned i = 0; i < 8; i++) {
        if (to_kvm) {
            regs[i] = env->fpregs[(top + i) & 7];
        } else {
            regs[(top + i) & 7] = env->fpregs[i];
        }
    }
    memcpy(env->fpregs, regs, sizeof(regs));
}

static void enter_tcg(CPUState *cpu)
{
    X86CPU *x86 = X86_CPU(cpu);
    CPUX86State *env = &x86->env;

    /* Registers, XSAVE, XCRs, sregs, MSRs (TSC among them), events. */
    cpu->vcpu_dirty = false;
    kvm_cpu_synchronize_state(cpu);
    qatomic_set(&hybrid.tsc_delta, (int64_t)env->tsc - cpu_get_ticks());
    struct kvm_vcpu_events events;
    if (kvm_get_interrupt_shadow(cpu, &events)) {
        env->hflags |= HF_INHIBIT_IRQ_MASK;
    }
    take_kvm_events(cpu, env);
    rotate_x87_registers(env, false);

    /* What KVM's sync leaves for TCG to derive: hflags from CR0/CR4/EFER,
     * the softfloat rounding state, hardware breakpoints. */
    cpu_x86_update_cr0(env, env->cr[0]);
    cpu_x86_update_cr4(env, env->cr[4]);
    if (env->efer & MSR_EFER_SVME) {
        env->hflags |= HF_SVME_MASK;
    } else {
        env->hflags &= ~HF_SVME_MASK;
    }
    cpu_set_fpuc(env, env->fpuc);
    cpu_set_mxcsr(env, env->mxcsr);
    target_ulong dr7 = env->dr[7];
    env->dr[7] = hybrid.tcg_dr7;
    cpu_x86_update_dr7(env, dr7);
    env->cc_op = CC_OP_EFLAGS;

    /* The guest may have written code natively: no stale translation. */
    tlb_flush(cpu);
    drop_stale_translations(cpu);
}

static void enter_kvm(CPUState *cpu)
{
    X86CPU *x86 = X86_CPU(cpu);
    CPUX86State *env = &x86->env;

    hybrid.tcg_dr7 = env->dr[7];
    /* TCG keeps the x87, SSE and AVX registers in env but does not track
     * XSAVE's "in use" bits: left as KVM last reported them, a component
     * TCG changed would be restored from its initial state. */
    env->xstate_bv |= XSTATE_FP_MASK | XSTATE_SSE_MASK;
    if (env->features[FEAT_1_ECX] & CPUID_EXT_AVX) {
        env->xstate_bv |= XSTATE_YMM_MASK;
    }
    if (env->features[FEAT_7_0_ECX] & CPUID_7_0_ECX_PKU) {
        env->xstate_bv |= XSTATE_PKRU_MASK;
    }
    env->tsc = hybrid_elapsed_ticks();
    env->cc_op = CC_OP_EFLAGS;
    env->exception_nr = -1;
    env->interrupt_injected = -1;
    bool shadow = env->hflags & HF_INHIBIT_IRQ_MASK;
    /* RESET level: also the TSC and the MSRs a runtime write skips. */
    rotate_x87_registers(env, true);
    kvm_arch_put_registers(cpu, KVM_PUT_RESET_STATE);
    rotate_x87_registers(env, false);
    if (shadow) {
        kvm_set_interrupt_shadow(cpu);
    }
    cpu->vcpu_dirty = false;
    cpu->exit_request = 0;
}

/* ---- Events and statistics --------------------------------------------------- */

static void emit_switch_event(int engine, uint64_t latency_ns)
{
    QDict *event = qdict_new();
    int64_t now = g_get_real_time();
    QDict *ts = qdict_new();
    qdict_put_int(ts, "seconds", now / G_USEC_PER_SEC);
    qdict_put_int(ts, "microseconds", now % G_USEC_PER_SEC);
    qdict_put(event, "timestamp", ts);
    qdict_put_str(event, "event", "HYPANDA_ENGINE_SWITCH");
    QDict *data = qdict_new();
    qdict_put_str(data, "engine", engine_name(engine));
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

static void log_latency(int engine, uint64_t ns)
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

/* ---- Switching ------------------------------------------------------------------ */

static void switch_work(CPUState *cpu, run_on_cpu_data data)
{
    int target = data.host_int;
    if (target == hybrid.engine) {
        qatomic_dec(&hybrid.pending);
        return;
    }
    if (target == HYPANDA_ENGINE_TCG) {
        enter_tcg(cpu);
        hypanda_rr_entered_tcg(cpu);
    } else {
        hypanda_rr_leaving_tcg(cpu);
        enter_kvm(cpu);
    }
    uint64_t now = get_clock();
    hybrid.engine_ns[hybrid.engine] += now - hybrid.engine_since;
    hybrid.engine_since = now;
    qatomic_set(&hybrid.engine, target);
    hybrid.switches[target]++;
    uint64_t latency = now - hybrid.request_ns;
    log_latency(target, latency);
    emit_switch_event(target, latency);
    hypanda_engine_changed(cpu, target);
    qatomic_dec(&hybrid.pending);
}

const char *hypanda_hybrid_request(int engine, const char *trigger)
{
    if (!hybrid.on) {
        return "hybrid mode is off (start the emulator with -accel kvm -hybrid on)";
    }
    if (engine != HYPANDA_ENGINE_TCG && engine != HYPANDA_ENGINE_KVM) {
        return "no such engine";
    }
    hybrid.request_ns = get_clock();
    hybrid.trigger = trigger;
    qatomic_inc(&hybrid.pending);
    async_run_on_cpu(hybrid.cpu, switch_work, RUN_ON_CPU_HOST_INT(engine));
    return NULL;
}

bool hypanda_hybrid_enabled(void)
{
    return hybrid.on;
}

int hypanda_hybrid_engine(void)
{
    if (hybrid.on) {
        return qatomic_read(&hybrid.engine);
    }
    return kvm_enabled() ? HYPANDA_ENGINE_KVM : HYPANDA_ENGINE_TCG;
}

bool hypanda_hybrid_switch_pending(CPUState *cpu)
{
    return qatomic_read(&hybrid.pending) > 0;
}

/* ---- The vCPU thread ------------------------------------------------------------ */

static bool at_break(CPUState *cpu)
{
    if (hybrid.nbreaks == 0) {
        return false;
    }
    cpu_synchronize_state(cpu);
    uint64_t pc = X86_CPU(cpu)->env.eip + X86_CPU(cpu)->env.segs[R_CS].base;
    for (int i = 0; i < hybrid.nbreaks; i++) {
        if (hybrid.breaks[i] == pc) {
            return true;
        }
    }
    return false;
}

static void arm_breaks(CPUState *cpu)
{
    for (int i = 0; i < hybrid.nbreaks; i++) {
        int err = kvm_insert_breakpoint(cpu, GDB_BREAKPOINT_HW, hybrid.breaks[i], 1);
        if (err < 0) {
            error_report("-hybrid-break 0x%" PRIx64 ": KVM cannot set the breakpoint: %s",
                         hybrid.breaks[i], strerror(-err));
            exit(1);
        }
    }
}

static void do_nothing(CPUState *cpu, run_on_cpu_data data)
{
}

/* The RCU thread waits for a grace period: make the vCPU leave cpu_exec
 * (and its read-side critical section) soon. */
static void hybrid_force_rcu(Notifier *notifier, void *data)
{
    async_run_on_cpu(hybrid.cpu, do_nothing, RUN_ON_CPU_NULL);
}

static void *hybrid_vcpu_thread(void *arg)
{
    CPUState *cpu = arg;

    rcu_register_thread();
    hybrid.force_rcu.notify = hybrid_force_rcu;
    rcu_add_force_rcu_notifier(&hybrid.force_rcu);
    tcg_register_thread();
    qemu_mutex_lock_iothread();
    qemu_thread_get_self(cpu->thread);
    cpu->thread_id = qemu_get_thread_id();
    cpu->can_do_io = 1;
    current_cpu = cpu;

    kvm_init_vcpu(cpu, &error_fatal);
    kvm_init_cpu_signals(cpu);
    arm_breaks(cpu);
    hybrid.engine_since = get_clock();
    if (hybrid.start_engine == HYPANDA_ENGINE_TCG) {
        cpu->vcpu_dirty = true; /* the state after reset is QEMU's */
    }

    cpu_thread_signal_created(cpu);
    qemu_guest_random_seed_thread_part2(cpu->random_seed);
    cpu->exit_request = 1;

    do {
        if (cpu_can_run(cpu)) {
            int r;
            if (qatomic_read(&hybrid.engine) == HYPANDA_ENGINE_KVM) {
                r = kvm_cpu_exec(cpu);
            } else {
                qemu_mutex_unlock_iothread();
                r = tcg_cpus_exec(cpu);
                qemu_mutex_lock_iothread();
                qatomic_mb_set(&cpu->exit_request, 0);
                if (r == EXCP_ATOMIC) {
                    qemu_mutex_unlock_iothread();
                    cpu_exec_step_atomic(cpu);
                    qemu_mutex_lock_iothread();
                }
            }
            if (r == EXCP_DEBUG) {
                if (qatomic_read(&hybrid.engine) == HYPANDA_ENGINE_KVM && at_break(cpu)) {
                    hypanda_hybrid_request(HYPANDA_ENGINE_TCG, "breakpoint");
                } else {
                    cpu_handle_guest_debug(cpu);
                }
            }
        }
        qemu_wait_io_event(cpu);
    } while (!cpu->unplug || cpu_can_run(cpu));

    kvm_destroy_vcpu(cpu);
    cpu_thread_signal_destroyed(cpu);
    qemu_mutex_unlock_iothread();
    rcu_remove_force_rcu_notifier(&hybrid.force_rcu);
    rcu_unregister_thread();
    return NULL;
}

static void hybrid_start_vcpu_thread(CPUState *cpu)
{
    char name[VCPU_THREAD_NAME_SIZE];
    X86CPU *x86 = X86_CPU(cpu);

    if (x86->expose_kvm) {
        error_report("-hybrid on: the CPU property kvm=on (KVM's paravirtual CPUID leaves and "
                     "kvmclock) is not available in hybrid mode, TCG has neither");
        exit(1);
    }
    hybrid.cpu = cpu;
    tcg_cpu_init_cflags(cpu, false);
    cpu->thread = g_new0(QemuThread, 1);
    cpu->halt_cond = g_new0(QemuCond, 1);
    qemu_cond_init(cpu->halt_cond);
    snprintf(name, sizeof(name), "CPU %d/hybrid", cpu->cpu_index);
    qemu_thread_create(cpu->thread, name, hybrid_vcpu_thread, cpu, QEMU_THREAD_JOINABLE);
}

/* A kick must stop either engine: cpu_exit() ends TCG's block chain and
 * makes the next KVM_RUN exit at once; the signal interrupts a KVM_RUN. */
static void hybrid_kick(CPUState *cpu)
{
    cpu_exit(cpu);
    if (qatomic_read(&hybrid.engine) == HYPANDA_ENGINE_KVM) {
        cpus_kick_thread(cpu);
    }
}

static void hybrid_handle_interrupt(CPUState *cpu, int mask)
{
    if (qatomic_read(&hybrid.engine) == HYPANDA_ENGINE_TCG) {
        tcg_handle_interrupt(cpu, mask);
    } else {
        cpu->interrupt_request |= mask;
        if (!qemu_cpu_is_self(cpu)) {
            qemu_cpu_kick(cpu);
        }
    }
}

/* While the vCPU is in TCG, QEMU's copy of its state is the only one. */
static void hybrid_synchronize_state(CPUState *cpu)
{
    if (qatomic_read(&hybrid.engine) == HYPANDA_ENGINE_KVM) {
        hybrid.kvm_ops.synchronize_state(cpu);
    }
}

static void hybrid_synchronize_post_reset(CPUState *cpu)
{
    if (qatomic_read(&hybrid.engine) == HYPANDA_ENGINE_KVM) {
        hybrid.kvm_ops.synchronize_post_reset(cpu);
    } else {
        cpu->vcpu_dirty = true;
    }
}

static void hybrid_synchronize_post_init(CPUState *cpu)
{
    if (qatomic_read(&hybrid.engine) == HYPANDA_ENGINE_KVM) {
        hybrid.kvm_ops.synchronize_post_init(cpu);
    } else {
        cpu->vcpu_dirty = true;
    }
}

static void hybrid_synchronize_pre_loadvm(CPUState *cpu)
{
    if (qatomic_read(&hybrid.engine) == HYPANDA_ENGINE_KVM) {
        hybrid.kvm_ops.synchronize_pre_loadvm(cpu);
    }
}

/* Every x86 CPU class gets TCG's operations next to KVM's. */
static void install_tcg_cpu_ops(ObjectClass *klass, void *opaque)
{
    CPUClass *cc = CPU_CLASS(klass);
    AccelCPUClass *tcg_cpu = opaque;
    void (*saved)(AccelCPUClass *, CPUClass *) = cc->init_accel_cpu;
    tcg_cpu->cpu_class_init(cc);
    cc->init_accel_cpu(tcg_cpu, cc);
    cc->init_accel_cpu = saved;
}

static void hybrid_register_qmp(void);
static QDict *hybrid_info(void);

/* -hybrid ...,stats=FILE: the statistics of query-hybrid, as JSON, when
 * the emulator exits (also through exit() from a device). */
static void write_stats(void)
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

void hypanda_hybrid_setup(void)
{
    hybrid_register_qmp();
    if (!hybrid.requested) {
        return;
    }

    /* TCG next to KVM, as tcg_init_machine() would set it up. */
    tcg_allowed = true;
    mttcg_enabled = true;
    page_init();
    tb_htable_init();
    tcg_init(0, 0, 1);
    tcg_prologue_init(tcg_ctx);
    ObjectClass *tcg_cpu = object_class_by_name(ACCEL_CPU_NAME("tcg"));
    g_assert(tcg_cpu != NULL);
    object_class_foreach(install_tcg_cpu_ops, TYPE_X86_CPU, false, tcg_cpu);

    /* Take over the KVM accelerator's vCPU operations. */
    AccelOpsClass *ops = ACCEL_OPS_CLASS(object_class_by_name(ACCEL_OPS_NAME("kvm")));
    hybrid.kvm_ops = *ops;
    ops->create_vcpu_thread = hybrid_start_vcpu_thread;
    ops->kick_vcpu_thread = hybrid_kick;
    ops->handle_interrupt = hybrid_handle_interrupt;
    ops->synchronize_state = hybrid_synchronize_state;
    ops->synchronize_post_reset = hybrid_synchronize_post_reset;
    ops->synchronize_post_init = hybrid_synchronize_post_init;
    ops->synchronize_pre_loadvm = hybrid_synchronize_pre_loadvm;
    ops->get_elapsed_ticks = hybrid_elapsed_ticks;

    /* One CPUID for both engines: no KVM leaves (and so no kvmclock). */
    object_register_sugar_prop(TYPE_X86_CPU, "kvm", "off", false);

    hybrid.engine = hybrid.start_engine;
    hybrid.on = true;
    if (hybrid.stats_path != NULL) {
        atexit(write_stats);
    }
    info_report("hybrid mode: starting in %s; kvmclock off, interrupt controllers in "
                "userspace, SMM off", engine_name(hybrid.engine));
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
        monitor_printf(mon, "engine %s\n", engine_name(hypanda_hybrid_engine()));
    }
}

static QDict *hybrid_info(void)
{
    QDict *d = qdict_new();
    qdict_put_bool(d, "hybrid", hybrid.on);
    qdict_put_str(d, "engine", engine_name(hypanda_hybrid_engine()));
    uint64_t now = get_clock();
    for (int e = HYPANDA_ENGINE_TCG; e <= HYPANDA_ENGINE_KVM; e++) {
        g_autofree char *prefix = g_strdup(engine_name(e));
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
                       engine_name(hypanda_hybrid_engine()));
        return;
    }
    QDict *d = hybrid_info();
    monitor_printf(mon, "engine %s\n", qdict_get_str(d, "engine"));
    monitor_printf(mon, "switches %" PRIu64 " (to tcg %" PRIu64 ", to kvm %" PRIu64 ")\n",
                   hybrid.switches[HYPANDA_ENGINE_TCG] + hybrid.switches[HYPANDA_ENGINE_KVM],
                   hybrid.switches[HYPANDA_ENGINE_TCG], hybrid.switches[HYPANDA_ENGINE_KVM]);
    for (int e = HYPANDA_ENGINE_TCG; e <= HYPANDA_ENGINE_KVM; e++) {
        QDict *x = qdict_get_qdict(d, engine_name(e));
        monitor_printf(mon, "time in %s %.6f s\n", engine_name(e),
                       qdict_get_int(x, "time-ns") / 1e9);
    }
    for (int e = HYPANDA_ENGINE_TCG; e <= HYPANDA_ENGINE_KVM; e++) {
        QDict *x = qdict_get_qdict(d, engine_name(e));
        monitor_printf(mon, "switch to %s latency: last %.1f us, median %.1f us, "
                       "p99 %.1f us over %" PRId64 "\n", engine_name(e),
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

static void hybrid_register_qmp(void)
{
    qmp_register_command(&qmp_commands, "hybrid-switch", qmp_hybrid_switch, 0, 0);
    qmp_register_command(&qmp_commands, "query-hybrid", qmp_query_hybrid, 0, 0);
}
