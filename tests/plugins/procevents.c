/*
 * procevents: osi's process start and end notifications, tested on the
 * Linux guest against strace (linux_analysis_test.cc). Writes
 * "start PID NAME" and "end PID NAME" lines, in order, to `output=`.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>

#include <panda/plugin_plugin.h>

#include "osi/osi.h"
#include "output.h"

static FILE *out;

static void started(CPUState *cpu, const char *name, target_ulong asid, target_pid_t pid)
{
    (void)cpu;
    (void)asid;
    fprintf(out, "start %d %s\n", (int)pid, name);
}

static void ended(CPUState *cpu, const char *name, target_ulong asid, target_pid_t pid)
{
    (void)cpu;
    (void)asid;
    fprintf(out, "end %d %s\n", (int)pid, name);
}

bool init_plugin(void *self)
{
    (void)self;
    panda_arg_list *args = panda_get_args("procevents");
    out = test_output_open(panda_parse_string_opt(args, "output", "", "result file"));
    panda_free_args(args);
    if (out == NULL || !panda_require("osi")) {
        return false;
    }
    PPP_REG_CB("osi", on_process_start, started);
    PPP_REG_CB("osi", on_process_end, ended);
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    test_output_close(out);
}
