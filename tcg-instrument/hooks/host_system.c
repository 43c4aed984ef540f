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
#include "qemu/error-report.h"
#include "qemu/notify.h"
#include "sysemu/runstate.h"

#include "hypanda/hypervisor/hybrid.h"
#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/rr/hooks.h"
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

/* Hybrid mode's switches reach plugins' engine_changed callbacks. */
static void on_engine_change(Notifier *notifier, void *data)
{
    const HypandaEngineChange *change = data;
    if (change->event == HYPANDA_ENGINE_SWITCHED) {
        hypanda_engine_changed(change->cpu, change->engine);
    }
}

static Notifier engine_notifier = {.notify = on_engine_change};

void hypanda_startup(void)
{
    hypanda_hybrid_add_engine_notifier(&engine_notifier);
    hypanda_register_qmp_commands();
    hypanda_rr_register_qmp();
    atexit(unload_at_exit);
    if (hypanda_load_startup_plugins() < 0) {
        exit(1);
    }
}

void hypanda_shutdown(void)
{
    hypanda_rr_shutdown();
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

int panda_current_engine(void)
{
    return hypanda_hybrid_engine();
}

bool panda_request_engine(int engine)
{
    if (engine != PANDA_ENGINE_TCG && engine != PANDA_ENGINE_KVM) {
        error_report("panda_request_engine: %d is not an engine "
                     "(PANDA_ENGINE_TCG or PANDA_ENGINE_KVM)", engine);
        return false;
    }
    const char *err = hypanda_hybrid_request(engine, "plugin");
    if (err != NULL) {
        error_report("panda_request_engine: %s", err);
        return false;
    }
    return true;
}
