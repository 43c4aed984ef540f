/*
 * osi_linux's own API beyond osi's (osi.h): what osi uses to have process
 * starts and ends reported (osi's on_process_start / on_process_end).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_PLUGIN_OSI_LINUX_H
#define HYPANDA_PLUGIN_OSI_LINUX_H

#include "osi/osi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* From now on, `start` is called when a thread's execve/execveat has
 * succeeded (at the new program's first system call, before it runs) and
 * `end` when a process calls exit_group (before it runs), each with the
 * process as osi describes it (valid during the call only). System-call
 * instructions are instrumented from the first call of this on. */
void osi_linux_watch_processes(void (*start)(CPUState *cpu, OsiProc *process),
                               void (*end)(CPUState *cpu, OsiProc *process));

#ifdef __cplusplus
}
#endif

#endif
