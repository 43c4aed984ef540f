/*
 * Shared between the QEMU glue files in this folder.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_HOOKS_H
#define HYPANDA_HOOKS_H

/* Registers the panda-* QMP commands (monitor.c). */
void hypanda_register_qmp_commands(void);

/* Stops the vCPUs if they run, so the plugin registry may change; returns
 * whether they were running, for hypanda_resume_vcpus (host.c). Main
 * thread, BQL held. */
bool hypanda_pause_vcpus(void);
void hypanda_resume_vcpus(bool were_running);

/* Precise PC (control.c): whether the generated code stores each
 * instruction's PC, and the stored value. */
bool hypanda_precise_pc_enabled(void);
bool hypanda_precise_pc_value(CPUState *cpu, uint64_t *pc);

#endif
