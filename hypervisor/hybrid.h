/*
 * The hybrid accelerator as the rest of Hypanda's QEMU code sees it
 * (hybrid.c): the hypercall device, the monitor, record/replay and the
 * plugin SDK.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_HYPERVISOR_HYBRID_H
#define HYPANDA_HYPERVISOR_HYBRID_H

#include <stdbool.h>

typedef struct CPUState CPUState;
typedef struct Notifier Notifier;

/* Whether hybrid mode is on (-accel kvm -hybrid on). */
bool hypanda_hybrid_enabled(void);

/* The engine running the guest: HYPANDA_ENGINE_TCG or HYPANDA_ENGINE_KVM
 * (panda/hypercall.h); without hybrid mode, the accelerator's. */
int hypanda_hybrid_engine(void);

/* Queues a switch of the vCPU to `engine`; it happens before the guest's
 * next instruction under KVM, or at the end of the current translated
 * block under TCG. `trigger` names the cause in events and statistics
 * (a string constant). NULL, or why it cannot be done. Any thread. */
const char *hypanda_hybrid_request(int engine, const char *trigger);

/* What an engine notifier hears, in this order for one switch. */
typedef enum HypandaEngineEvent {
    /* The vCPU's state has just come out of KVM into TCG's hands; no
     * instruction has run in TCG yet (a pending recording starts here). */
    HYPANDA_ENGINE_ENTERED_TCG,
    /* The vCPU is about to leave TCG; its state is still TCG's (a
     * recording ends here). */
    HYPANDA_ENGINE_LEAVING_TCG,
    /* After every switch, once the statistics count it: `engine` is the
     * new one (plugins' engine_changed callback). */
    HYPANDA_ENGINE_SWITCHED,
} HypandaEngineEvent;

/* The data a notifier added with hypanda_hybrid_add_engine_notifier gets. */
typedef struct HypandaEngineChange {
    CPUState *cpu;
    HypandaEngineEvent event;
    int engine; /* the engine being switched to */
} HypandaEngineChange;

/* Adds `notifier` (QEMU's Notifier: notify(notifier, HypandaEngineChange *))
 * to those told of every engine switch, on the vCPU thread under the BQL.
 * How the layers above the hybrid accelerator hear of switches. Call at
 * start-up, before the guest runs; `notifier` must live until exit. */
void hypanda_hybrid_add_engine_notifier(Notifier *notifier);

#endif
