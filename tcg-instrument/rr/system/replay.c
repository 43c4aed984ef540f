/*
 * Record/replay (state.h): replay. The snapshot is loaded into a machine
 * made from the recording's own options, devices are neither read nor
 * written, their interrupt lines are ignored, and the log supplies every
 * input. Blocks are bounded so that the vCPU stops exactly where an
 * interrupt is due. At the end the instruction count and a hash of guest
 * RAM are checked against the manifest; any disagreement before that ends
 * the replay with both sides.
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
#include "hypanda/tcg-instrument/rr/system/state.h"

const HypandaRrEvent *hypanda_rr_next_event(void)
{
    return hypanda_rr.next < hypanda_rr.n_events ? &hypanda_rr.events[hypanda_rr.next] : NULL;
}

/* Entries replay must stop between blocks for. */
/* What devices did: written or only told (device_event). */
static bool is_device_event(const HypandaRrEvent *e)
{
    return e->kind == HYPANDA_RR_DMA_WRITE || e->kind == HYPANDA_RR_DMA_READ || e->kind == HYPANDA_RR_DISK ||
           e->kind == HYPANDA_RR_PACKET;
}

static bool at_boundary(const HypandaRrEvent *e)
{
    return e->kind == HYPANDA_RR_INTERRUPT || e->kind == HYPANDA_RR_END ||
           (is_device_event(e) && e->site == HYPANDA_RR_SITE_DMA_ASYNC);
}

static void find_next_stop(CPUState *cpu)
{
    size_t i = MAX(hypanda_rr.next, hypanda_rr.next_stop);
    while (i < hypanda_rr.n_events && !at_boundary(&hypanda_rr.events[i])) {
        i++;
    }
    hypanda_rr.next_stop = i;
    cpu->hypanda_rr_limit = hypanda_rr_base + hypanda_rr.events[MIN(i, hypanda_rr.n_events - 1)].icount;
}


/* Checks the instruction count and guest RAM against the manifest, says
 * so in one line and ends the emulator (status 0 when they agree). */
static G_NORETURN void finish_replay(CPUState *cpu)
{
    const uint64_t n = hypanda_rr_count_at(cpu, 0);
    const uint64_t want = hypanda_rr_replay_ram_xxh64(hypanda_rr.replay);
    const uint64_t got = hypanda_rr_guest_ram_hash();
    hypanda_rr.result_instructions = n;
    if (got != want) {
        hypanda_rr_clear_progress();
        hypanda_rr_replay_error("replay %s: RAM hash %016" PRIx64 " after %" PRIu64 " instructions, the "
                     "recording's is %016" PRIx64, hypanda_rr.replay_name, got, n, want);
        hypanda_rr_end_replay(1);
    }
    hypanda_rr_clear_progress();
    hypanda_rr.result_verified = true;
    fprintf(stderr, "replay verified: %" PRIu64 " instructions, RAM hash ok\n", n);
    hypanda_rr_end_replay(0);
}

/* One device entry: a DMA write is written (the devices are not there to),
 * and each kind goes to the plugins' replay callback. */
static void device_event(CPUState *cpu, const HypandaRrEvent *e)
{
    switch (e->kind) {
    case HYPANDA_RR_DMA_WRITE:
        DISPATCH(PANDA_CB_REPLAY_BEFORE_CPU_PHYSICAL_MEM_RW_RAM, 0,
                 c->cb.replay_before_cpu_physical_mem_rw_ram(cpu, 1, (uintptr_t)e->data, e->addr,
                                                             e->data_len));
        hypanda_rr_applying_log = true;
        cpu_physical_memory_write(e->addr, e->data, e->data_len);
        hypanda_rr_applying_log = false;
        break;
    case HYPANDA_RR_DMA_READ:
        DISPATCH(PANDA_CB_REPLAY_BEFORE_CPU_PHYSICAL_MEM_RW_RAM, 0,
                 c->cb.replay_before_cpu_physical_mem_rw_ram(cpu, 0, e->addr, 0, e->length));
        break;
    case HYPANDA_RR_DISK: {
        const bool to_ram = e->size == HYPANDA_RR_HD_TO_RAM;
        DISPATCH(PANDA_CB_REPLAY_HD_TRANSFER, 0,
                 c->cb.replay_hd_transfer(cpu, e->size, to_ram ? e->value : e->addr, to_ram ? e->addr : e->value,
                                          e->length));
        break;
    }
    case HYPANDA_RR_PACKET:
        DISPATCH(PANDA_CB_REPLAY_HANDLE_PACKET, 0,
                 c->cb.replay_handle_packet(cpu, (uint8_t *)e->data, e->data_len, e->size, e->addr));
        break;
    }
}

/* Replay: the log's device entries due now from `site`. */
static void apply_device_events(CPUState *cpu, uint64_t now, uint32_t site)
{
    const HypandaRrEvent *e;
    while ((e = hypanda_rr_next_event()) != NULL && is_device_event(e) && e->icount == now && e->site == site) {
        device_event(cpu, e);
        hypanda_rr.next++;
    }
    if (hypanda_rr.next > hypanda_rr.next_stop) {
        find_next_stop(cpu);
    }
}

/* The count device_read found for the read that input is about to log or
 * match: the same instruction, so it is not looked up twice (finding the
 * instruction inside a block costs a search of the translated code). Used
 * once. */
static __thread uintptr_t read_ra;
static __thread bool read_ra_valid;

bool hypanda_rr_device_read_slow(CPUState *cpu, uint8_t kind, uint32_t site, uint64_t addr,
                                 uint8_t size, uintptr_t ra, uint64_t *value)
{
    hypanda_rr_in_device_access = true;
    hypanda_rr_device_access_count = hypanda_rr_count_at(cpu, ra);
    read_ra = ra;
    read_ra_valid = true;
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        /* A device that wrote RAM and then says so in a status register. */
        hypanda_rr_write_pending(hypanda_rr_device_access_count, HYPANDA_RR_SITE_DMA);
        return false;
    }
    apply_device_events(cpu, hypanda_rr_device_access_count, HYPANDA_RR_SITE_DMA);
    *value = hypanda_rr_input_slow(cpu, kind, site, addr, size, ra, 0);
    return true;
}

uint64_t hypanda_rr_input_slow(CPUState *cpu, uint8_t kind, uint32_t site, uint64_t addr,
                               uint8_t size, uintptr_t ra, uint64_t value)
{
    const uint64_t icount = read_ra_valid && read_ra == ra ? hypanda_rr_device_access_count
                                                           : hypanda_rr_count_at(cpu, ra);
    read_ra_valid = false;
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        HypandaRrEvent e = {.icount = icount, .addr = addr, .value = value, .site = site,
                            .kind = kind, .size = size};
        hypanda_rr_recorder_event(hypanda_rr.recorder, &e);
        return value;
    }
    const HypandaRrEvent *e = hypanda_rr_next_event();
    if (e == NULL || e->kind != kind || e->site != site || e->icount != icount ||
        e->addr != addr || e->size != size) {
        GString *s = g_string_new("this run does ");
        hypanda_rr_describe(s, kind, site, addr, size);
        char *what = g_string_free(s, false);
        hypanda_rr_diverged(cpu, icount, what);
    }
    hypanda_rr.next++;
    return e->value;
}

void hypanda_rr_device_write_slow(CPUState *cpu, uintptr_t ra)
{
    hypanda_rr_in_device_access = true;
    hypanda_rr_device_access_count = hypanda_rr_count_at(cpu, ra);
    if (hypanda_rr_mode == HYPANDA_RR_REPLAYING) {
        apply_device_events(cpu, hypanda_rr_device_access_count, HYPANDA_RR_SITE_DMA);
    }
}


int hypanda_rr_vector_slow(CPUState *cpu, int vector)
{
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        hypanda_rr.vector = vector + 1;
        return vector;
    }
    const HypandaRrEvent *e = hypanda_rr_next_event();
    if (e == NULL || e->kind != HYPANDA_RR_INTERRUPT) {
        hypanda_rr_diverged(cpu, hypanda_rr_count_at(cpu, 0), "this run takes an interrupt");
    }
    return (int)e->addr - 1;
}

void hypanda_rr_interrupt_taken_slow(CPUState *cpu, uint32_t request, uint32_t site)
{
    if (request & CPU_INTERRUPT_POLL) {
        return; /* an APIC poll: what it raises is taken later */
    }
    const uint64_t icount = hypanda_rr_count_at(cpu, 0);
    const uint32_t bits = request & DEVICE_INTERRUPTS;
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        hypanda_rr_write_pending(icount, HYPANDA_RR_SITE_DMA_ASYNC); /* before the interrupt */
        HypandaRrEvent e = {.icount = icount, .addr = hypanda_rr.vector, .value = bits, .site = site,
                            .kind = HYPANDA_RR_INTERRUPT};
        hypanda_rr_recorder_event(hypanda_rr.recorder, &e);
        hypanda_rr.vector = 0;
        return;
    }
    const HypandaRrEvent *e = hypanda_rr_next_event();
    if (e == NULL || e->kind != HYPANDA_RR_INTERRUPT || e->icount != icount || e->value != bits ||
        e->site != site) {
        GString *s = g_string_new("this run takes ");
        hypanda_rr_describe(s, HYPANDA_RR_INTERRUPT, site, bits, 0);
        char *what = g_string_free(s, false);
        hypanda_rr_diverged(cpu, icount, what);
    }
    hypanda_rr.next++;
    find_next_stop(cpu);
}

void hypanda_rr_boundary_slow(CPUState *cpu)
{
    hypanda_rr_in_device_access = false;
    read_ra_valid = false;
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        hypanda_rr_write_pending(hypanda_rr_count_at(cpu, 0), HYPANDA_RR_SITE_DMA_ASYNC);
        return;
    }
    const uint64_t now = hypanda_rr_count_at(cpu, 0);
    apply_device_events(cpu, now, HYPANDA_RR_SITE_DMA_ASYNC);
    const HypandaRrEvent *e = hypanda_rr_next_event();
    if (e != NULL && e->kind == HYPANDA_RR_END && e->icount == now) {
        finish_replay(cpu);
    }
    /* The devices' lines are the log's: raised only before the instruction
     * at which the recording took an interrupt. */
    uint32_t bits = 0;
    if (e != NULL && e->kind == HYPANDA_RR_INTERRUPT && e->icount == now) {
        bits = e->value;
    } else if (cpu->halted) {
        hypanda_rr_diverged(cpu, now, "this run waits halted for an interrupt");
    }
    if ((qatomic_read(&cpu->interrupt_request) & DEVICE_INTERRUPTS) != bits) {
        qemu_mutex_lock_iothread();
        cpu->interrupt_request = (cpu->interrupt_request & ~DEVICE_INTERRUPTS) | bits;
        qemu_mutex_unlock_iothread();
    }
}

void hypanda_rr_bound_block_slow(CPUState *cpu, uint32_t *cflags)
{
    const uint64_t now = hypanda_rr_count_at(cpu, 0);
    const HypandaRrEvent *stop = &hypanda_rr.events[hypanda_rr.next_stop];
    if (stop->icount < now) {
        hypanda_rr_diverged(cpu, now, "this run went past it");
    }
    const uint64_t budget = stop->icount - now;
    if (budget == 0) {
        if (stop->kind == HYPANDA_RR_END && hypanda_rr.next == hypanda_rr.next_stop) {
            finish_replay(cpu);
        }
        /* The recording came to this boundary again without running an
         * instruction (an exit request) and found more: what devices did
         * meanwhile, or a second interrupt. This is a boundary too. */
        const size_t before = hypanda_rr.next_stop;
        if (hypanda_rr.next == before && stop->kind == HYPANDA_RR_INTERRUPT) {
            hypanda_rr_boundary_slow(cpu); /* raises its request bits */
            cpu_exit(cpu);                 /* the block leaves at its start; the interrupt is taken then */
            return;
        }
        if (hypanda_rr.next == before && is_device_event(stop)) {
            hypanda_rr_boundary_slow(cpu);
            if (hypanda_rr.next_stop != before) {
                hypanda_rr_bound_block_slow(cpu, cflags);
                return;
            }
        }
        hypanda_rr_diverged(cpu, now, "this run does not take it here");
    }
    if (budget <= CF_COUNT_MASK) {
        const uint32_t len = *cflags & CF_COUNT_MASK;
        if (len == 0 || len > budget) {
            *cflags = (*cflags & ~CF_COUNT_MASK) | (uint32_t)budget;
        }
    }
}

void hypanda_rr_limit_exit_slow(CPUState *cpu, const TranslationBlock *tb)
{
    if (cpu->hypanda_icount > cpu->hypanda_rr_limit) {
        cpu->hypanda_icount -= tb->icount;
    }
}

int hypanda_rr_device_interrupt_mask_slow(int mask)
{
    return mask & ~DEVICE_INTERRUPTS;
}


void hypanda_rr_start_replay(void)
{
    CPUState *cpu = first_cpu;
    Error *err = NULL;
    char *msg = NULL;
    if (!hypanda_rr_can_record_or_replay("-replay", &err)) {
        hypanda_rr_replay_error("%s", error_get_pretty(err));
        exit(1);
    }
    hypanda_rr.replay = hypanda_rr_replay_open(hypanda_rr.replay_name, &msg);
    if (hypanda_rr.replay == NULL) {
        hypanda_rr_replay_error("-replay %s: %s", hypanda_rr.replay_name, msg);
        exit(1);
    }
    if (!hypanda_rr_load_snapshot(cpu, &err)) {
        hypanda_rr_replay_error("-replay %s: %s", hypanda_rr.replay_name, error_get_pretty(err));
        exit(1);
    }
    hypanda_rr.n_events = hypanda_rr_replay_events(hypanda_rr.replay, &hypanda_rr.events);
    hypanda_rr.next = 0;
    hypanda_rr.next_stop = 0;
    panda_enable_instr_count();
    hypanda_rr_base = cpu->hypanda_icount;
    find_next_stop(cpu);
    hypanda_rr_mode = HYPANDA_RR_REPLAYING;
    info_report("replaying %s: %" PRIu64 " instructions, %zu log entries", hypanda_rr.replay_name,
                hypanda_rr_replay_instructions(hypanda_rr.replay), hypanda_rr.n_events - 1);
    if (isatty(STDERR_FILENO)) {
        hypanda_rr_start_progress();
    }
}
