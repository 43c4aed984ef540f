/*
 * The hooks plugin's API: run a function of your plugin just before the
 * guest executes a given address, in every process or in one address
 * space. Import it with
 *
 *     #include "hooks/hooks.h"
 *     panda_require("hooks");
 *     int (*add)(target_ulong, target_ulong, hooks_fn_t, void *) =
 *         PANDA_IMPORT("hooks", hooks_add);
 *
 * Hooks run while the guest runs under TCG (in hybrid mode: in TCG
 * windows; in replay: always), on the vCPU thread, like insn_exec
 * callbacks: the instruction at `pc` has not run yet, and registers
 * written from the hook (panda_reg_write) are what it sees.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_PLUGIN_HOOKS_H
#define HYPANDA_PLUGIN_HOOKS_H

#include <panda/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A hook: called with the vCPU, the hooked address and the context given
 * to hooks_add. */
typedef void (*hooks_fn_t)(CPUState *cpu, target_ulong pc, void *context);

/* Calls `fn` before every execution of the instruction at virtual address
 * `pc`: in any address space when `asid` is 0, else only while the current
 * ASID (panda_current_asid, x86: CR3) equals `asid`. Returns the hook's id
 * (> 0), or 0 after one error line (`fn` NULL). Several hooks at one
 * address run in the order added. Takes effect from the next block. */
int hooks_add(target_ulong pc, target_ulong asid, hooks_fn_t fn, void *context);

/* The same, only while the current process's name (osi's get_current_process:
 * Linux's 15-character comm) is `process`. Needs the osi plugin loaded
 * (panda_require("osi") first); otherwise, or with `process` NULL or empty,
 * returns 0 after one error line. The name is asked of osi each time the
 * guest reaches `pc` (in any process), so hook addresses that run rarely. */
int hooks_add_process(target_ulong pc, const char *process, hooks_fn_t fn, void *context);

/* Removes hook `id` (it is not called again, not even later in the current
 * instruction's hook list). Returns false if there is no such hook. */
bool hooks_remove(int id);

#ifdef __cplusplus
}
#endif

#endif
