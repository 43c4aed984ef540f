/*
 * The test guest's command line: which workloads to run, in order. Plain C
 * with no guest dependencies, so the host's unit tests exercise the same
 * parser the guest runs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HPTEST_CMDLINE_H
#define HPTEST_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum hp_workload_kind {
    HP_WORKLOAD_COUNT,
    HP_WORKLOAD_MEM,
    HP_WORKLOAD_USER,
    HP_WORKLOAD_TIMER,
    HP_WORKLOAD_IO,
    HP_WORKLOAD_DISK,
    HP_WORKLOAD_HYPERCALL,
    HP_WORKLOAD_FAULT,
    HP_WORKLOAD_CROSS,
    HP_WORKLOAD_ALIAS,
    HP_WORKLOAD_SWITCH,
    HP_WORKLOAD_SWITCHGPR,
    HP_WORKLOAD_WINDOW,
    HP_WORKLOAD_LLVMWINDOW,
    HP_WORKLOAD_TIMERSWITCH,
    HP_WORKLOAD_SWITCHLAT,
    HP_WORKLOAD_SWITCHTO,
    HP_WORKLOAD_SMC,
    HP_WORKLOAD_MSRSWITCH,
    HP_WORKLOAD_FPUSWITCH,
    HP_WORKLOAD_FPUSTATE,
    HP_WORKLOAD_BRACKET,
    HP_WORKLOAD_DISKDMA,
    HP_WORKLOAD_PATCH,
    HP_WORKLOAD_TAINTFLOW,
    HP_WORKLOAD_TAINTBAD,
    HP_WORKLOAD_KINDS,
};

struct hp_workload {
    enum hp_workload_kind kind;
    uint64_t arg;
};

#define HP_MAX_WORKLOADS 16

/* Name of a workload kind as written on the command line. */
const char *hp_workload_name(enum hp_workload_kind kind);

/* Parses `cmdline` (everything after the kernel's own file name) into at
 * most HP_MAX_WORKLOADS workloads. Returns the number parsed (at least 1),
 * or -1 with a one-line message in `err` (always NUL-terminated). */
int hp_parse_cmdline(const char *cmdline, struct hp_workload *out, char *err, size_t err_size);

/* QEMU's multiboot loader passes "<kernel file> <-append text>": returns a
 * pointer past the first word and the blanks after it. */
const char *hp_skip_kernel_name(const char *cmdline);

#ifdef __cplusplus
}
#endif

#endif
