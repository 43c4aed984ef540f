/*
 * What the plugin runtime needs from the emulator around it. The runtime
 * (C++, no QEMU headers) calls these; tcg-instrument/hooks/host.c implements
 * them on QEMU, and the unit tests implement them with a fake.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_RUNTIME_HOST_H
#define HYPANDA_RUNTIME_HOST_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Prints one error line (no trailing newline in `message`). */
void hypanda_host_error(const char *message);

/* Prints one informational line. */
void hypanda_host_info(const char *message);

/* True on a vCPU thread, where plugin callbacks run. */
bool hypanda_host_on_vcpu_thread(void);

/* Runs fn(data) once no vCPU is executing guest code (on a vCPU thread,
 * after the current block). Only called from a vCPU thread. */
void hypanda_host_at_safe_point(void (*fn)(void *data), void *data);

/* Drops all translated code, so that instrumentation decided at
 * translation time is decided again. */
void hypanda_host_flush_translations(void);

/* The folder the emulator binary is in (no trailing slash). */
const char *hypanda_host_binary_dir(void);

/* A plugin is being unloaded (after its uninit_plugin, before dlclose):
 * whatever the emulator holds of its code goes (its LLVM passes). */
void hypanda_host_plugin_unloading(void *handle);

/* Asks for an orderly shutdown of the emulator. */
void hypanda_host_request_exit(void);

#ifdef __cplusplus
}
#endif

#endif
