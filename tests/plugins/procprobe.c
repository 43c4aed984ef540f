/*
 * procprobe: the hooks plugin's per-process hooks (hooks_add_process),
 * tested on the Linux guest (linux_analysis_test.cc). Hooks one address
 * three times: in every process, only in process `process=`, and only in
 * process `other=`; at unload writes "hits ANY IN_PROCESS IN_OTHER".
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stdio.h>

#include <panda/plugin_plugin.h>

#include "hooks/hooks.h"
#include "output.h"

static uint64_t hits[3];
static char output[256];

static void count(CPUState *cpu, target_ulong pc, void *context)
{
    (void)cpu;
    (void)pc;
    hits[(uintptr_t)context]++;
}

bool init_plugin(void *self)
{
    (void)self;
    panda_arg_list *args = panda_get_args("procprobe");
    const target_ulong at = panda_parse_uint64_req(args, "at", "address to hook");
    char process[64], other[64];
    snprintf(process, sizeof process, "%s", panda_parse_string_req(args, "process", "the process to hook in"));
    snprintf(other, sizeof other, "%s", panda_parse_string_req(args, "other", "a process that never runs `at`"));
    snprintf(output, sizeof output, "%s", panda_parse_string_opt(args, "output", "", "result file"));
    panda_free_args(args);
    if (!panda_require("hooks") || !panda_require("osi")) {
        return false;
    }
    int (*add)(target_ulong, target_ulong, hooks_fn_t, void *) = PANDA_IMPORT("hooks", hooks_add);
    int (*add_process)(target_ulong, const char *, hooks_fn_t, void *) = PANDA_IMPORT("hooks", hooks_add_process);
    return add && add_process && add(at, 0, count, (void *)0) && add_process(at, process, count, (void *)1) &&
           add_process(at, other, count, (void *)2);
}

void uninit_plugin(void *self)
{
    (void)self;
    FILE *out = test_output_open(output);
    if (out != NULL) {
        fprintf(out, "hits %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", hits[0], hits[1], hits[2]);
        test_output_close(out);
    }
}
