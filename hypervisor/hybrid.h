/*
 * The hybrid accelerator as the rest of Hypanda's QEMU code sees it
 * (hybrid.c): the hypercall device, the monitor and the plugin SDK.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_HYPERVISOR_HYBRID_H
#define HYPANDA_HYPERVISOR_HYBRID_H

#include <stdbool.h>

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

#endif
