/*
 * A user of the hooks and callstack_instr plugins for the Linux analysis
 * test: it hooks the address `at` (hpana_bottom) and there writes the
 * shadow stack, and it counts on_call/on_ret of function `func`
 * (hpana_recurse) per address space. At uninit, to `output`:
 *
 *   hook <asid> <hits>
 *   functions <f0> <f1> ...      innermost first, at the first hit
 *   callers <r0> <r1> ...
 *   calls <n> rets <n>           of `func`, in the hooked address space
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "callstack_instr/callstack_instr.h"
#include "hooks/hooks.h"
#include "output.h"

#define MAX_ASIDS 64
#define MAX_FRAMES 64

static target_ulong at, func;
static char output[256];

static struct {
    target_ulong asid;
    uint64_t calls, rets;
} counts[MAX_ASIDS];
static int nasids;

static target_ulong hook_asid;
static uint64_t hook_hits;
static target_ulong functions[MAX_FRAMES], callers[MAX_FRAMES];
static int nfunctions, ncallers;

static int (*functions_of)(target_ulong *, int, CPUState *);
static int (*callers_of)(target_ulong *, int, CPUState *);

static void count(CPUState *cpu, bool call)
{
    target_ulong asid = panda_current_asid(cpu);
    int i = 0;
    while (i < nasids && counts[i].asid != asid) {
        i++;
    }
    if (i == nasids) {
        if (nasids == MAX_ASIDS) {
            return;
        }
        counts[nasids++].asid = asid;
    }
    if (call) {
        counts[i].calls++;
    } else {
        counts[i].rets++;
    }
}

static void on_call_seen(CPUState *cpu, target_ulong f)
{
    if (f == func) {
        count(cpu, true);
    }
}

static void on_ret_seen(CPUState *cpu, target_ulong f)
{
    if (f == func) {
        count(cpu, false);
    }
}

static void at_bottom(CPUState *cpu, target_ulong pc, void *context)
{
    (void)pc;
    (void)context;
    if (hook_hits++ == 0) {
        hook_asid = panda_current_asid(cpu);
        nfunctions = functions_of(functions, MAX_FRAMES, cpu);
        ncallers = callers_of(callers, MAX_FRAMES, cpu);
    }
}

bool init_plugin(void *self)
{
    (void)self;
    panda_arg_list *args = panda_get_args("callprobe");
    at = panda_parse_uint64_req(args, "at", "address to hook");
    func = panda_parse_uint64_req(args, "func", "function whose calls are counted");
    snprintf(output, sizeof output, "%s",
             panda_parse_string_opt(args, "output", "", "result file (default stdout)"));
    panda_free_args(args);

    if (!panda_require("hooks") || !panda_require("callstack_instr")) {
        return false;
    }
    int (*add)(target_ulong, target_ulong, hooks_fn_t, void *) = PANDA_IMPORT("hooks", hooks_add);
    functions_of = PANDA_IMPORT("callstack_instr", get_functions);
    callers_of = PANDA_IMPORT("callstack_instr", get_callers);
    if (!add || !functions_of || !callers_of || add(at, 0, at_bottom, NULL) == 0) {
        return false;
    }
    PPP_REG_CB("callstack_instr", on_call, on_call_seen);
    PPP_REG_CB("callstack_instr", on_ret, on_ret_seen);
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    FILE *out = test_output_open(output);
    if (out == NULL) {
        return;
    }
    fprintf(out, "hook 0x%" PRIx64 " %" PRIu64 "\n", hook_asid, hook_hits);
    fprintf(out, "functions");
    for (int i = 0; i < nfunctions; i++) {
        fprintf(out, " 0x%" PRIx64, functions[i]);
    }
    fprintf(out, "\ncallers");
    for (int i = 0; i < ncallers; i++) {
        fprintf(out, " 0x%" PRIx64, callers[i]);
    }
    fprintf(out, "\n");
    for (int i = 0; i < nasids; i++) {
        if (counts[i].asid == hook_asid) {
            fprintf(out, "calls %" PRIu64 " rets %" PRIu64 "\n", counts[i].calls, counts[i].rets);
        }
    }
    test_output_close(out);
}
