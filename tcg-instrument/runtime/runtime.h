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

/* ---- Dispatch (vCPU threads) ----
 *
 * The callback lists as the instrumentation reads them: for each kind, the
 * callbacks in dispatch order, each with its plugin's enabled flag and its
 * plugin's bit for insn_translate masks. The registry republishes a list
 * whenever it changes, which happens only when no vCPU runs guest code, so
 * readers take no lock. */
typedef struct HypandaCallback {
    panda_cb cb;
    const bool *enabled;
    uint64_t plugin_bit;
    void *owner; /* the registry's plugin */
} HypandaCallback;

typedef struct HypandaCallbackList {
    const HypandaCallback *entries;
    size_t count;
} HypandaCallbackList;

extern HypandaCallbackList hypanda_callbacks[PANDA_CB_LAST];

/* Whether any plugin registered a callback of this kind. */
static inline bool hypanda_wants(panda_cb_type type)
{
    return hypanda_callbacks[type].count != 0;
}

/* The PC panda_current_pc reports while a callback with a known PC runs
 * on this thread (set by the dispatching code). */
extern __thread uint64_t hypanda_cb_pc;
extern __thread bool hypanda_cb_pc_valid;

#ifdef __cplusplus
}
#endif

#endif
