/*
 * The plugin runtime's C interface to the QEMU glue (tcg-instrument/hooks/):
 * command-line options, start-up and shut-down, monitor operations, and the
 * dispatch entry points the instrumented code calls.
 *
 * Strings returned as `char *` are malloc'ed; the caller frees them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_RUNTIME_H
#define HYPANDA_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#define PANDA_SDK_INTERNAL
#include "panda/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Command line (each returns 0, or -1 after printing the error) ---- */
int hypanda_option_panda(const char *text);        /* -panda 'a;b:k=v' */
int hypanda_option_panda_plugin(const char *path); /* -panda-plugin PATH */
int hypanda_option_panda_arg(const char *text);    /* -panda-arg plugin:k=v */

/* Loads the plugins named on the command line, in order, then checks that
 * every -panda-arg belongs to a loaded plugin. Returns 0, or -1 after
 * printing the error (the emulator then exits before the guest starts). */
int hypanda_load_startup_plugins(void);

/* Unloads every plugin (uninit_plugin runs); idempotent. `unmap` false
 * when the process is exiting. */
void hypanda_unload_all_plugins(bool unmap);

/* ---- Monitor operations (main thread, vCPUs paused by the caller) ---- */
/* Each returns NULL on success or an error message. */
char *hypanda_monitor_load(const char *path, const char *args, int *index, char **name);
char *hypanda_monitor_unload(int64_t index);
char *hypanda_monitor_set_enabled(int64_t index, bool enabled);

typedef void (*hypanda_plugin_visitor)(void *opaque, int index, const char *name,
                                       const char *path, uint64_t address, bool enabled);
void hypanda_for_each_plugin(hypanda_plugin_visitor visit, void *opaque);
int hypanda_plugin_count(void);

/* Delivers `cmd` to every enabled plugin's monitor callback. */
void hypanda_run_monitor(Monitor *mon, const char *cmd);

/* ---- Dispatch (vCPU threads) ---- */

/* Whether any plugin registered a callback of this kind. */
bool hypanda_wants(panda_cb_type type);

void hypanda_run_before_block_translate(CPUState *cpu, uint64_t pc);
void hypanda_run_after_block_translate(CPUState *cpu, TranslationBlock *tb, uint64_t pc);
/* True if any callback asked to invalidate the block. */
bool hypanda_run_invalidate_opt(CPUState *cpu, TranslationBlock *tb, uint64_t pc);
void hypanda_run_before_block_exec(CPUState *cpu, TranslationBlock *tb, uint64_t pc);
void hypanda_run_after_block_exec(CPUState *cpu, TranslationBlock *tb, uint64_t pc);
void hypanda_run_cpu_restore_state(CPUState *cpu, TranslationBlock *tb);
void hypanda_run_guest_hypercall(CPUState *cpu);
/* Asks every enabled plugin's insn_translate; returns the mask of plugin
 * slots that want this instruction instrumented (0: none). A plugin's
 * insn_exec then runs only for the instructions its own insn_translate
 * accepted. */
uint64_t hypanda_run_insn_translate(CPUState *cpu, uint64_t pc);
void hypanda_run_insn_exec(CPUState *cpu, uint64_t pc, uint64_t plugins);

/* The PC of the callback running on this thread, if it has one. */
bool hypanda_callback_pc(uint64_t *pc);

#ifdef __cplusplus
}
#endif

#endif
