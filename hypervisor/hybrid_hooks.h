/*
 * The hybrid accelerator's call sites in QEMU (patch 0010). Every call the
 * patch adds goes through a declaration here; the logic is in hybrid.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_HYPERVISOR_HYBRID_HOOKS_H
#define HYPANDA_HYPERVISOR_HYBRID_HOOKS_H

#include <stdbool.h>

typedef struct AccelState AccelState;
typedef struct CPUState CPUState;
typedef struct MachineState MachineState;
typedef struct Monitor Monitor;
typedef struct QDict QDict;

/* softmmu/vl.c, option parsing: -hybrid and -hybrid-break. A malformed
 * value is reported and the emulator exits with status 1. */
void hypanda_cmdline_hybrid(const char *optarg);
void hypanda_cmdline_hybrid_break(const char *optarg);

/* softmmu/vl.c, do_configure_accelerator(), before the accelerator is
 * initialised: hybrid mode's machine settings (userspace interrupt
 * controllers, no SMM, one vCPU). False after printing the reason when the
 * command line conflicts with hybrid mode. */
bool hypanda_hybrid_configure_accel(AccelState *accel, MachineState *ms);

/* softmmu/vl.c, once the accelerator is initialised and before the CPUs
 * exist: initialises TCG next to KVM and takes over the vCPU threads. */
void hypanda_hybrid_setup(void);

/* target/i386/kvm/kvm.c, kvm_arch_pre_run(): true while an engine switch
 * is queued for this vCPU. No interrupt is handed to KVM then: KVM exits at
 * once and the vector would be stranded in KVM's injection state. */
bool hypanda_hybrid_switch_pending(CPUState *cpu);

/* accel/kvm/kvm-all.c: the dirty-log clients (a mask of DIRTY_MEMORY_*
 * bits) KVM must log for: all but TCG's code tracking, which only exists
 * next to KVM in hybrid mode, unless hybrid mode keeps translations across
 * KVM phases (keep-tbs=on) and so needs to know what KVM wrote. */
int hypanda_hybrid_kvm_dirty_log_mask(int mask);

/* HMP: hybrid_switch tcg|kvm, info hybrid. */
void hmp_hybrid_switch(Monitor *mon, const QDict *qdict);
void hmp_info_hybrid(Monitor *mon, const QDict *qdict);

#endif
