/*
 * The test guest's workloads. Each returns the value its RESULT line
 * reports, or ends the run with an ERROR line; model.h defines the values.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HPTEST_WORKLOADS_H
#define HPTEST_WORKLOADS_H

#include <stdbool.h>
#include <stdint.h>

uint64_t hp_count_loop(uint64_t n); /* entry.S */
uint64_t hp_patch_loop(uint64_t n); /* entry.S */
uint64_t workload_mem(uint64_t n);
uint64_t workload_user(uint64_t n);
uint64_t workload_timer(uint64_t n);
uint64_t workload_io(uint64_t n);
uint64_t workload_disk(uint64_t sectors);
uint64_t workload_diskdma(uint64_t sectors);
uint64_t hp_hypercall_loop(uint64_t n); /* entry.S */
uint64_t workload_fault(uint64_t n);
uint64_t workload_cross(uint64_t n);
uint64_t workload_alias(uint64_t n);
uint64_t workload_switch(uint64_t n, bool with_fpu);
uint64_t workload_window(uint64_t n);
uint64_t workload_llvmwindow(uint64_t n);
uint64_t workload_bracket(uint64_t n);
uint64_t workload_timerswitch(uint64_t n);
uint64_t workload_switchlat(uint64_t n);
uint64_t workload_smc(uint64_t n);
uint64_t workload_msrswitch(uint64_t n);
uint64_t workload_fpuswitch(uint64_t n);
uint64_t workload_fpustate(uint64_t n);
uint64_t workload_taintflow(uint64_t n);
uint64_t workload_taintbad(uint64_t n);
uint32_t hp_hybrid_call(uint32_t command); /* hybrid.S */

/* The answers to switch hypercalls, counted and printed as the line
 *   SWITCHES <ok> unavailable <u> forbidden <f> no-device <d>
 * (an answer outside these ends the run). hybrid.c. */
struct hp_switch_answers {
    uint64_t ok, unavailable, forbidden, no_device;
};
void hp_switch_answers_add(struct hp_switch_answers *a, uint32_t result);
void hp_switch_answers_print(const struct hp_switch_answers *a);

/* Called by the exception handler: true if the exception was a fault the
 * running workload expects, in which case `frame` (vector, error code,
 * RIP, ...) has been adjusted to resume after the faulting instruction. */
int hp_fault_expected(uint64_t *frame);

#endif
