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
