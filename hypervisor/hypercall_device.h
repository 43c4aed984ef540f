/*
 * The hypercall device (hypercall.c) as the layers above it see it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_HYPERVISOR_HYPERCALL_DEVICE_H
#define HYPANDA_HYPERVISOR_HYPERCALL_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

/* What carries out the guest's BEGIN_RECORD and END_RECORD hypercalls
 * (record/replay, tcg-instrument/rr/system/). `begin` returns whether it
 * could (the device answers HYPANDA_HC_OK or HYPANDA_HC_ERR_UNAVAILABLE);
 * `end` returns the hypercall's answer: HYPANDA_HC_OK,
 * HYPANDA_HC_ERR_FORBIDDEN when the recording in progress is not one the
 * guest began (a guest ends only what it began), or
 * HYPANDA_HC_ERR_UNAVAILABLE. */
typedef struct HypandaRecorder {
    bool (*begin)(const char *folder);
    uint32_t (*end)(void);
} HypandaRecorder;

/* Offers `recorder` (which must live until exit) to the device; without
 * one, recording hypercalls answer HYPANDA_HC_ERR_UNAVAILABLE. Start-up,
 * before the guest runs. */
void hypanda_hypercall_set_recorder(const HypandaRecorder *recorder);

#endif
