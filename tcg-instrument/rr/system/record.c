/*
 * Record/replay (state.h): beginning and ending a recording, from the
 * command line, the monitor, the guest, hybrid mode's switches and the
 * emulator's end.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/exec-all.h"
#include "exec/ramblock.h"
#include "hw/boards.h"
#include "io/channel-buffer.h"
#include "migration/qemu-file.h"
#include "migration/snapshot.h"
#include "migration/vmstate.h"
#include "monitor/monitor.h"
#include "monitor/monitor-internal.h"
#include "qapi/error.h"
#include "qapi/qmp/dispatch.h"
#include "qapi/qmp/qdict.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "sysemu/cpus.h"
#include "sysemu/hw_accel.h"
#include "sysemu/runstate.h"
#include "sysemu/tcg.h"
#include "tcg/tcg.h"

#include <sys/mman.h>
#include <xxhash.h>

#include "hypanda/hypervisor/hybrid.h"
#include "hypanda/hypervisor/hypercall_device.h"
#include "hypanda/hypervisor/qmp_args.h"
#include "hypanda/include/panda/hypercall.h"
#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"
#include "hw/qdev-core.h"
#include "net/net.h"
#include "net/tap.h"

#include "hypanda/tcg-instrument/rr/system/state.h"

bool hypanda_rr_can_record_or_replay(const char *what, Error **errp)
{
    if (!tcg_enabled()) {
        error_setg(errp, "%s needs the TCG engine (-accel tcg, or -accel kvm -hybrid on)", what);
        return false;
    }
    if (first_cpu == NULL || CPU_NEXT(first_cpu) != NULL) {
        error_setg(errp, "%s: one vCPU only", what);
        return false;
    }
    if (hypanda_rr_mode != HYPANDA_RR_OFF || hypanda_rr.pending != NULL) {
        error_setg(errp, "%s: already %s %s", what,
                   hypanda_rr_mode == HYPANDA_RR_REPLAYING ? "replaying" : "recording",
                   hypanda_rr.pending != NULL ? hypanda_rr.pending : hypanda_rr.name);
        return false;
    }
    return true;
}

/* ---- Devices a recording cannot see ---- */

/* The first device found whose effect on the guest recording cannot see,
 * with what to do instead (docs/recording.md, "Devices"). */
static int unrecordable_device(Object *obj, void *opaque)
{
    char **why = opaque;
    if (object_dynamic_cast(obj, TYPE_DEVICE) == NULL) {
        return 0;
    }
    DeviceState *dev = DEVICE(obj);
    const char *type = object_get_typename(obj);
    const char *reason = NULL;
    if (g_str_has_prefix(type, "vhost-")) {
        reason = "vhost runs the device outside the emulator, where recording cannot see it; use the emulator's "
                 "own device (libvirt: <driver name='qemu'/>)";
    } else if (g_str_has_prefix(type, "vfio-")) {
        reason = "a host device passed through writes guest RAM itself";
    } else if (g_str_has_prefix(type, "ivshmem")) {
        reason = "its shared memory is written by other processes";
    } else if (object_dynamic_cast(obj, "ide-device") != NULL && dev->parent_bus != NULL &&
               dev->parent_bus->parent != NULL &&
               object_dynamic_cast(OBJECT(dev->parent_bus->parent), "ich9-ahci") != NULL) {
        reason = "an AHCI controller writes its command list and received FISes through long-lived mappings "
                 "recording does not see yet; put the disk on virtio-blk or the IDE controller (if=ide, "
                 "libvirt: bus='virtio' or bus='ide')";
    }
    if (reason == NULL) {
        return 0;
    }
    *why = g_strdup_printf("device %s%s%s: %s", type, dev->id != NULL ? " " : "", dev->id != NULL ? dev->id : "",
                           reason);
    return 1;
}

/* A NIC whose back-end moves its frames outside the emulator (vhost). */
static void vhost_nic(NICState *nic, void *opaque)
{
    char **why = opaque;
    NetClientState *peer = nic->ncs[0].peer;
    if (*why != NULL || peer == NULL) {
        return;
    }
    const bool vhost_user = peer->info->type == NET_CLIENT_DRIVER_VHOST_USER ||
                            peer->info->type == NET_CLIENT_DRIVER_VHOST_VDPA;
    if (vhost_user || (peer->info->type == NET_CLIENT_DRIVER_TAP && tap_get_vhost_net(peer) != NULL)) {
        *why = g_strdup_printf("NIC %s on %s %s: vhost moves its frames outside the emulator, where recording "
                               "cannot see them; use vhost=off (libvirt: <driver name='qemu'/>)",
                               nic->ncs[0].name, vhost_user ? "netdev" : "tap netdev", peer->name);
    }
}

bool hypanda_rr_can_begin(const char *what, const char *name, Error **errp)
{
    if (!hypanda_rr_can_record_or_replay(what, errp)) {
        return false;
    }
    char *why = NULL;
    object_child_foreach_recursive(object_get_root(), unrecordable_device, &why);
    if (why == NULL) {
        qemu_foreach_nic(vhost_nic, &why);
    }
    if (why != NULL) {
        error_setg(errp, "%s: cannot record this machine: %s", what, why);
        g_free(why);
        return false;
    }
    if (access(name, F_OK) == 0) {
        error_setg(errp, "%s: %s exists already; recordings are never overwritten", what, name);
        return false;
    }
    return true;
}

/* Starts the recording `name` at this instruction: the vCPU is between
 * blocks (or not running), the BQL held. */
bool hypanda_rr_begin_now(CPUState *cpu, const char *name, Error **errp)
{
    HypandaRrBlockList list;
    if (!hypanda_rr_ram_blocks(&list)) {
        error_setg(errp, "begin_record %s: more than %zu RAM blocks", name,
                   ARRAY_SIZE(list.blocks));
        return false;
    }
    HypandaRrBlock blocks[ARRAY_SIZE(list.blocks)];
    for (size_t i = 0; i < list.count; i++) {
        blocks[i].name = qemu_ram_get_idstr(list.blocks[i]);
        blocks[i].bytes = qemu_ram_get_used_length(list.blocks[i]);
    }
    panda_enable_instr_count();
    GByteArray *state = hypanda_rr_cpu_state_bytes(cpu);
    char *err = NULL;
    HypandaRrRecorder *r =
        hypanda_rr_recorder_open(name, blocks, list.count, state->data, state->len, &err);
    g_byte_array_free(state, true);
    if (r != NULL) {
        for (size_t i = 0; i < list.count; i++) {
            hypanda_rr_recorder_ram(r, qemu_ram_get_host_addr(list.blocks[i]), blocks[i].bytes);
        }
        if (!hypanda_rr_recorder_start_log(r, &err)) {
            hypanda_rr_recorder_discard(r);
            r = NULL;
        }
    }
    if (r == NULL) {
        error_setg(errp, "begin_record: %s", err);
        free(err);
        return false;
    }
    hypanda_rr.recorder = r;
    hypanda_rr.name = g_strdup(name);
    hypanda_rr_base = cpu->hypanda_icount;
    hypanda_rr.vector = 0;
    hypanda_rr_mode = HYPANDA_RR_RECORDING;
    info_report("recording %s: started", name);
    return true;
}


/* Ends the recording at `instructions`. */
void hypanda_rr_end_now(uint64_t instructions)
{
    hypanda_rr_write_pending(instructions, HYPANDA_RR_SITE_DMA_ASYNC); /* nothing is left behind */
    HypandaRrRecorder *r = hypanda_rr.recorder;
    const uint64_t entries = hypanda_rr_recorder_entries(r);
    uint64_t log_bytes = 0;
    char *err = NULL;
    hypanda_rr_mode = HYPANDA_RR_OFF;
    hypanda_rr.recorder = NULL;
    g_autofree char *model = g_strdup(object_get_typename(OBJECT(first_cpu)));
    char *suffix = g_strrstr(model, "-" TYPE_X86_CPU);
    if (suffix != NULL) {
        *suffix = '\0';
    }
    if (hypanda_rr_recorder_finish(r, instructions, hypanda_rr_guest_ram_hash(), model, hypanda_rr.argc,
                                   (const char *const *)hypanda_rr.argv, &log_bytes, &err)) {
        info_report("recording %s: %" PRIu64 " instructions, %" PRIu64 " log entries, "
                    "%" PRIu64 " log bytes", hypanda_rr.name, instructions, entries, log_bytes);
    } else {
        error_report("recording %s: %s", hypanda_rr.name, err);
        free(err);
    }
    g_free(hypanda_rr.name);
    hypanda_rr.name = NULL;
    hypanda_rr.guest_began = false;
}

/* Starts the pending recording (hypanda_rr.pending is under the BQL). */
static void begin_pending(CPUState *cpu)
{
    char *name = hypanda_rr.pending;
    hypanda_rr.pending = NULL;
    Error *err = NULL;
    if (!hypanda_rr_begin_now(cpu, name, &err)) {
        error_report_err(err);
    }
    g_free(name);
}

static void begin_work(CPUState *cpu, run_on_cpu_data data)
{
    if (hypanda_rr.pending != NULL && hypanda_hybrid_engine() != PANDA_ENGINE_KVM) {
        begin_pending(cpu);
    }
    /* else: it ended before it began, or hypanda_rr_entered_tcg starts it */
}

/* The monitor's begin_record: on the vCPU between blocks, with the error
 * for the monitor to show. */
typedef struct BeginRequest {
    const char *name;
    Error *err;
} BeginRequest;

static void begin_sync_work(CPUState *cpu, run_on_cpu_data data)
{
    BeginRequest *req = data.host_ptr;
    hypanda_rr_begin_now(cpu, req->name, &req->err);
}

static void end_work(CPUState *cpu, run_on_cpu_data data)
{
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        hypanda_rr_end_now(hypanda_rr_count_at(cpu, 0));
    }
}

/* Starts a recording at the vCPU's next block boundary; under KVM (hybrid
 * mode), at the switch to TCG. From a monitor (`wait`) it waits for the
 * vCPU to start it, so that an error reaches the monitor; from the guest
 * (on the vCPU, in the middle of an instruction) it cannot wait. */
bool hypanda_rr_begin_record(const char *name, bool wait, Error **errp)
{
    if (!hypanda_rr_can_begin("begin_record", name, errp)) {
        return false;
    }
    hypanda_rr.guest_began = false;  /* the guest's hypercall says otherwise after */
    if (wait && hypanda_hybrid_engine() != PANDA_ENGINE_KVM) {
        BeginRequest req = {.name = name, .err = NULL};
        run_on_cpu(first_cpu, begin_sync_work, RUN_ON_CPU_HOST_PTR(&req));
        if (req.err != NULL) {
            error_propagate(errp, req.err);
            return false;
        }
        return true;
    }
    hypanda_rr.pending = g_strdup(name);
    async_run_on_cpu(first_cpu, begin_work, RUN_ON_CPU_NULL);
    return true;
}

bool hypanda_rr_end_record(Error **errp)
{
    if (hypanda_rr.pending != NULL) {
        info_report("recording %s: ended before it started (the guest stayed under KVM)",
                    hypanda_rr.pending);
        g_free(hypanda_rr.pending);
        hypanda_rr.pending = NULL;
        hypanda_rr.guest_began = false;
        return true;
    }
    if (hypanda_rr_mode != HYPANDA_RR_RECORDING) {
        error_setg(errp, "end_record: nothing is being recorded");
        return false;
    }
    run_on_cpu(first_cpu, end_work, RUN_ON_CPU_NULL);
    return true;
}

void hypanda_rr_entered_tcg(CPUState *cpu)
{
    if (hypanda_rr.pending != NULL) {
        begin_pending(cpu);
    }
}

void hypanda_rr_leaving_tcg(CPUState *cpu)
{
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        hypanda_rr_end_now(hypanda_rr_count_at(cpu, 0));
    }
}

/* The emulator ends while recording: from a device on the vCPU thread
 * (exit() in isa-debug-exit: the instruction writing to it is the end),
 * or from the main loop with the vCPU stopped between blocks. */
void hypanda_rr_end_at_exit(void)
{
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        hypanda_rr_end_now(current_cpu != NULL && hypanda_rr_in_device_access ? hypanda_rr_device_access_count
                                                        : hypanda_rr_count_at(first_cpu, 0));
    }
}


void hypanda_rr_shutdown(void)
{
    hypanda_rr_end_at_exit();
}
