/*
 * The callstack_instr plugin's API (PANDA's names): a shadow call stack
 * per thread, built from the CALL and RET instructions the guest executes.
 *
 *     #include "callstack_instr/callstack_instr.h"
 *     panda_require("callstack_instr");
 *     PPP_REG_CB("callstack_instr", on_call, my_on_call);
 *     int (*callers)(target_ulong *, int, CPUState *) =
 *         PANDA_IMPORT("callstack_instr", get_callers);
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_PLUGIN_CALLSTACK_INSTR_H
#define HYPANDA_PLUGIN_CALLSTACK_INSTR_H

#include <panda/plugin_plugin.h>

/* A CALL completed: `func` is the called function's entry (the first
 * instruction after the call). */
PPP_CB_TYPEDEF(void, on_call, CPUState *env, target_ulong func);
/* A RET reached the return address of a call to `func`. */
PPP_CB_TYPEDEF(void, on_ret, CPUState *env, target_ulong func);

PPP_PROT_REG_CB(on_call);
PPP_PROT_REG_CB(on_ret);

#ifdef __cplusplus
extern "C" {
#endif

/* The return addresses of the current thread's calls, innermost first, at
 * most `n` of them into `callers`; returns how many were written. */
int get_callers(target_ulong *callers, int n, CPUState *cpu);

/* The entry addresses of the functions on the current thread's stack,
 * innermost (the running function) first; returns how many were written. */
int get_functions(target_ulong *functions, int n, CPUState *cpu);

#ifdef __cplusplus
}
#endif

#endif
