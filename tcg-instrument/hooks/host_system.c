/*
 * The plugin runtime in the system emulator: start-up after the machine is
 * created, shut-down on every way the emulator ends, pausing the vCPUs for
 * monitor changes, and the exit request plugins may make.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "hw/core/cpu.h"
#include "sysemu/cpus.h"
#include "sysemu/runstate.h"

#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/host.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

void hypanda_host_request_exit(void)
{
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
}

/* exit() can end the emulator from a device (isa-debug-exit) without
 * qemu_cleanup(); plugins still get their uninit_plugin. */
static void unload_at_exit(void)
{
    hypanda_unload_all_plugins(false);
}

void hypanda_startup(void)
{
    hypanda_register_qmp_commands();
    atexit(unload_at_exit);
    if (hypanda_load_startup_plugins() < 0) {
        exit(1);
    }
}

void hypanda_shutdown(void)
{
    hypanda_unload_all_plugins(false);
}

bool hypanda_pause_vcpus(void)
{
    bool running = runstate_is_running();
    if (running) {
        pause_all_vcpus();
    }
    return running;
}

void hypanda_resume_vcpus(bool were_running)
{
    if (were_running) {
        resume_all_vcpus();
    }
}
