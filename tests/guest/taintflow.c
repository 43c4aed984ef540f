/*
 * taintflow N: a known data flow for the taint2 plugin (taintflow.S), on
 * N bytes (2..64) whose values model.h gives. Without the plugin the
 * hypercalls are plain CPUIDs and the run is the same.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "model.h"
#include "workloads.h"

void hp_taintflow(const uint8_t *src, uint8_t *dst, uint8_t *out, uint64_t n); /* taintflow.S */

uint64_t workload_taintflow(uint64_t n) {
    static uint8_t src[HP_TAINTFLOW_MAX], dst[HP_TAINTFLOW_MAX], out[HP_TAINTFLOW_MAX];
    for (uint64_t k = 0; k < n; k++) {
        src[k] = hp_taintflow_input(k);
    }
    hp_taintflow(src, dst, out, n);
    uint64_t h = HP_FNV_OFFSET;
    for (uint64_t k = 0; k < n; k++) {
        h = hp_fnv_byte(h, out[k]);
    }
    return h;
}
