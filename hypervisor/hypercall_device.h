/*
 * The hypercall device (hypercall.c) as the layers above it see it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_HYPERVISOR_HYPERCALL_DEVICE_H
#define HYPANDA_HYPERVISOR_HYPERCALL_DEVICE_H

#include <stdbool.h>

/* What carries out the guest's BEGIN_RECORD and END_RECORD hypercalls
 * (record/replay, tcg-instrument/hooks/rr.c). Each returns whether it
 * could; the device answers HYPANDA_HC_OK or HYPANDA_HC_ERR_UNAVAILABLE. */
typedef struct HypandaRecorder {
    bool (*begin)(const char *folder);
    bool (*end)(void);
} HypandaRecorder;

/* Offers `recorder` (which must live until exit) to the device; without
 * one, recording hypercalls answer HYPANDA_HC_ERR_UNAVAILABLE. Start-up,
 * before the guest runs. */
void hypanda_hypercall_set_recorder(const HypandaRecorder *recorder);

#endif
