/*
 * taintflow N: a known data flow for the taint2 plugin (taintflow.S), on
 * N bytes (2..64) whose values model.h gives. Without the plugin the
 * hypercalls are plain CPUIDs and the run is the same.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"
#include "model.h"
#include "workloads.h"

void hp_taintflow(const uint8_t *src, uint8_t *dst, uint8_t *out, uint64_t n); /* taintflow.S */
void hp_taint2_call(uint64_t command, uint64_t address, uint64_t length);      /* taintflow.S */

uint64_t workload_taintflow(uint64_t n) {
    static uint8_t src[HP_TAINTFLOW_MAX], dst[HP_TAINTFLOW_MAX], out[HP_TAINTFLOW_MAX];
    for (uint64_t k = 0; k < n; k++) {
        src[k] = hp_taintflow_input(k);
    }
    enable_sse(); /* taintflow.S copies with MOVDQU */
    hp_taintflow(src, dst, out, n);
    uint64_t h = HP_FNV_OFFSET;
    for (uint64_t k = 0; k < n; k++) {
        h = hp_fnv_byte(h, out[k]);
    }
    return h;
}

/* taintbad N: a query of 16 bytes before anything is labelled (with
 * taint2:manual=on, while tracking is off: 16 clean answers), then N rounds
 * of two taint2 hypercalls the plugin must refuse, each with one error
 * line: an unknown command (7), and a query of HP_TAINTBAD_LENGTH bytes
 * (over its 1 MiB limit). The value is N. */
uint64_t workload_taintbad(uint64_t n) {
    static uint8_t buffer[16];
    hp_taint2_call(HP_TAINT2_QUERY, (uint64_t)(uintptr_t)buffer, sizeof buffer);
    for (uint64_t i = 0; i < n; i++) {
        hp_taint2_call(7, (uint64_t)(uintptr_t)buffer, 16);
        hp_taint2_call(HP_TAINT2_QUERY, (uint64_t)(uintptr_t)buffer, HP_TAINTBAD_LENGTH);
    }
    return n;
}
