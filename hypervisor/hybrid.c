/*
 * The hybrid accelerator: one guest, one process, two engines. The guest
 * runs under KVM; on request its vCPU continues in QEMU's TCG translator,
 * where Hypanda's plugin callbacks run, and later goes back to KVM. Guest
 * RAM and every device are shared: a switch moves CPU state only. This
 * file: the command line, the set-up, the vCPU thread and the switch
 * itself; x86_state.c moves the state, hybrid_monitor.c reports. Layers
 * above (record/replay, the plugin runtime) hear of switches through the
 * engine notifier (hybrid.h), never by being called from here.
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
#include "hw/boards.h"
#include "hw/core/accel-cpu.h"
#include "hw/i386/x86.h"
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
#include "hypanda/hypervisor/hybrid_int.h"
#include "hypanda/include/panda/hypercall.h"

HybridState hybrid = {
    .start_engine = HYPANDA_ENGINE_KVM,
    .engine = HYPANDA_ENGINE_KVM,
};

static NotifierList engine_notifiers = NOTIFIER_LIST_INITIALIZER(engine_notifiers);

void hypanda_hybrid_add_engine_notifier(Notifier *notifier)
{
    notifier_list_add(&engine_notifiers, notifier);
}

static void notify_engine(CPUState *cpu, HypandaEngineEvent event, int engine)
{
    HypandaEngineChange change = {.cpu = cpu, .event = event, .engine = engine};
    notifier_list_notify(&engine_notifiers, &change);
}

const char *hybrid_engine_name(int engine)
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

/* ---- Switching ------------------------------------------------------------------ */

static void switch_work(CPUState *cpu, run_on_cpu_data data)
{
    int target = data.host_int;
    if (target == hybrid.engine) {
        qatomic_dec(&hybrid.pending);
        return;
    }
    if (target == HYPANDA_ENGINE_TCG) {
        hybrid_enter_tcg(cpu);
        notify_engine(cpu, HYPANDA_ENGINE_ENTERED_TCG, target);
    } else {
        notify_engine(cpu, HYPANDA_ENGINE_LEAVING_TCG, target);
        hybrid_enter_kvm(cpu);
    }
    uint64_t now = get_clock();
    hybrid.engine_ns[hybrid.engine] += now - hybrid.engine_since;
    hybrid.engine_since = now;
    qatomic_set(&hybrid.engine, target);
    hybrid.switches[target]++;
    uint64_t latency = now - hybrid.request_ns;
    hybrid_log_latency(target, latency);
    hybrid_emit_switch_event(target, latency);
    notify_engine(cpu, HYPANDA_ENGINE_SWITCHED, target);
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
        atexit(hybrid_write_stats);
    }
    info_report("hybrid mode: starting in %s; kvmclock off, interrupt controllers in "
                "userspace, SMM off", hybrid_engine_name(hybrid.engine));
}
