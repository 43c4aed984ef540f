/*
 * The osi plugin's API: OS introspection that does not depend on the OS
 * (PANDA's osi, same function names). Which OS is read is osi's `os`
 * argument (`linux`, the default and only one: osi_linux does the work).
 *
 *     #include "osi/osi.h"
 *     panda_require("osi");
 *     OsiProc *(*current)(CPUState *) = PANDA_IMPORT("osi", get_current_process);
 *
 * Every function may be called from any callback on the vCPU thread. It
 * returns NULL when the guest's state cannot be read now (the kernel has
 * not set up its first process yet, a page is not mapped); the osi_linux
 * README says when. Returned objects belong to the caller: free them with
 * the free_* functions or g_array_free(list, TRUE).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_PLUGIN_OSI_H
#define HYPANDA_PLUGIN_OSI_H

#include <panda/plugin_plugin.h>

#include "osi/osi_types.h"

/* PPP callbacks (PANDA's names): a program has started in process `pid` (an
 * execve succeeded; called at the new program's first system call, before
 * it runs), and a process is ending (its exit_group, before it runs).
 * `procname` is the process's name then (Linux: comm), `asid` its address
 * space. A process killed by a signal, or whose last thread calls exit
 * rather than exit_group, is not reported as ending. Nothing is watched
 * (no cost) until a plugin registers for one of them. */
PPP_CB_TYPEDEF(void, on_process_start, CPUState *env, const char *procname, target_ulong asid, target_pid_t pid);
PPP_CB_TYPEDEF(void, on_process_end, CPUState *env, const char *procname, target_ulong asid, target_pid_t pid);
PPP_PROT_REG_CB(on_process_start);
PPP_PROT_REG_CB(on_process_end);

#ifdef __cplusplus
extern "C" {
#endif

/* The process the vCPU runs now (in the kernel: the one it works for). */
OsiProc *get_current_process(CPUState *cpu);
OsiProcHandle *get_current_process_handle(CPUState *cpu);
/* The thread the vCPU runs now. */
OsiThread *get_current_thread(CPUState *cpu);
/* Every process (GArray of OsiProc / OsiProcHandle), in the kernel's order. */
GArray *get_processes(CPUState *cpu);
GArray *get_process_handles(CPUState *cpu);
/* The process a handle names, read now. */
OsiProc *get_process(CPUState *cpu, const OsiProcHandle *handle);
/* A process's memory mappings (GArray of OsiModule), by address. */
GArray *get_mappings(CPUState *cpu, OsiProc *process);
/* Kernel modules (GArray of OsiModule). */
GArray *get_modules(CPUState *cpu);

void free_osiproc(OsiProc *p);
void free_osiprochandle(OsiProcHandle *h);
void free_osithread(OsiThread *t);

#ifdef __cplusplus
}
#endif

#endif
