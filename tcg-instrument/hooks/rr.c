/*
 * Record and replay at the CPU + RAM boundary (docs/recording.md), x86
 * system emulation. The call sites are in rr_hooks.h; the files are
 * written and read by the format library through rr/engine.h.
 *
 * Recording: a snapshot of the CPU (QEMU's vmstate of the vCPU) and of
 * every RAM block, then a log of everything that enters CPU + RAM, keyed
 * by the exact instruction count (patch 0011): device reads, timestamp and
 * random-number instructions, interrupts with the instruction before which
 * each was taken and its vector.
 *
 * Replay: the snapshot is loaded into a machine made from the recording's
 * own options, devices are neither read nor written, their interrupt
 * lines are ignored, and the log supplies every input. Blocks are bounded
 * so that the vCPU stops exactly where an interrupt is due. At the end the
 * instruction count and a hash of guest RAM are checked against the
 * manifest; any disagreement before that ends the replay with both sides.
 *
 * One vCPU (the hybrid accelerator has one too).
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
#include "hypanda/tcg-instrument/rr_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

/* The interrupt requests devices raise (everything else the CPU raises
 * itself, deterministically). */
#define DEVICE_INTERRUPTS                                                            \
    (CPU_INTERRUPT_HARD | CPU_INTERRUPT_POLL | CPU_INTERRUPT_SMI | CPU_INTERRUPT_NMI | \
     CPU_INTERRUPT_MCE | CPU_INTERRUPT_INIT | CPU_INTERRUPT_SIPI | CPU_INTERRUPT_TPR)

static struct {
    char *name;           /* the recording's folder */
    int argc;             /* the emulator's command line, for the manifest */
    char **argv;

    /* Recording. */
    HypandaRrRecorder *recorder;
    char *pending;        /* asked for while under KVM: starts in TCG */
    int vector;           /* + 1, of the interrupt being taken; 0 none */

    /* Replay. */
    HypandaRrReplay *replay;
    const HypandaRrEvent *events;
    size_t n_events;
    size_t next;          /* the next entry due */
    size_t next_stop;     /* the next entry due between blocks (at_boundary), from `next` on */

    /* -record-from and -replay, until start-up. */
    char *record_from_snapshot;
    char *record_from_name;
    char *replay_name;
    char *replay_args_error;

    /* The recording in progress (or pending) was begun by the guest's
     * hypercall, so the guest may end it. */
    bool guest_began;

    /* -replay-result: the outcome, written at exit (rr/result.h). */
    char *result_path;
    char *result_error;   /* the one error line, without the program name */
    bool result_verified;
    uint64_t result_instructions;
} rr;

/* The vCPU thread's last device access since the last block boundary:
 * RAM written meanwhile is the device's (DMA), and a recording a device
 * ends (exit() in isa-debug-exit) ends at that instruction. */
static __thread bool in_device_access;
static __thread uint64_t device_access_count;
/* Hypanda itself writing DMA bytes (the log's in replay, held-back ones
 * while recording): not a device's write. */
static __thread bool applying_log;

/* RAM devices write from other threads while recording is held back and
 * written by the vCPU, which logs it, at its next block boundary or device
 * access, whichever comes first: the guest cannot see it before the
 * instruction the log names, and sees it before any interrupt or status
 * the device gives after writing. The vCPU is kicked to come soon. */
typedef struct PendingDma {
    uint64_t addr;
    GByteArray *bytes;
} PendingDma;
static QemuMutex pending_lock;
static GArray *pending_dma;
static bool dma_pending;

static uint64_t count_at(CPUState *cpu, uintptr_t ra)
{
    uint64_t n = cpu->hypanda_icount;
    if (ra != 0) {
        TranslationBlock *tb = tcg_tb_lookup(ra);
        if (tb != NULL) {
            n -= hypanda_tb_insns_left(tb, ra);
        }
    }
    return n - hypanda_rr_base;
}

static uint64_t guest_ram_hash(void)
{
    MemoryRegion *ram = current_machine->ram;
    return XXH64(memory_region_get_ram_ptr(ram), memory_region_size(ram), 0);
}

/* ---- Recording ------------------------------------------------------------------- */

typedef struct BlockList {
    RAMBlock *blocks[256];
    size_t count;
    bool too_many;
} BlockList;

static int add_block(RAMBlock *rb, void *opaque)
{
    BlockList *list = opaque;
    if (rb == current_machine->ram->ram_block) {
        return 0;
    }
    if (list->count == ARRAY_SIZE(list->blocks)) {
        list->too_many = true;
        return 1;
    }
    list->blocks[list->count++] = rb;
    return 0;
}

/* The machine's RAM blocks, the guest's RAM first. */
static bool ram_blocks(BlockList *list)
{
    list->count = 1;
    list->too_many = false;
    list->blocks[0] = current_machine->ram->ram_block;
    qemu_ram_foreach_block(add_block, list);
    return !list->too_many;
}

/* The CPU state: its CPUID feature words (hybrid mode narrows them to
 * what both engines have, replay's plain TCG must see the same), then
 * QEMU's vmstate of the vCPU.
 *   u32 feature words, that many u64, vmstate bytes */
static GByteArray *cpu_state_bytes(CPUState *cpu)
{
    CPUX86State *env = &X86_CPU(cpu)->env;
    GByteArray *bytes = g_byte_array_new();
    const uint32_t words = cpu_to_le32(FEATURE_WORDS);
    g_byte_array_append(bytes, (const uint8_t *)&words, sizeof words);
    for (int i = 0; i < FEATURE_WORDS; i++) {
        const uint64_t w = cpu_to_le64(env->features[i]);
        g_byte_array_append(bytes, (const uint8_t *)&w, sizeof w);
    }
    QIOChannelBuffer *bioc = qio_channel_buffer_new(16384);
    QEMUFile *f = qemu_file_new_output(QIO_CHANNEL(bioc));
    vmstate_save_state(f, &vmstate_x86_cpu, X86_CPU(cpu), NULL);
    qemu_fflush(f);
    g_byte_array_append(bytes, bioc->data, bioc->usage);
    qemu_fclose(f);
    object_unref(OBJECT(bioc));
    return bytes;
}

static bool can_record_or_replay(const char *what, Error **errp)
{
    if (!tcg_enabled()) {
        error_setg(errp, "%s needs the TCG engine (-accel tcg, or -accel kvm -hybrid on)", what);
        return false;
    }
    if (first_cpu == NULL || CPU_NEXT(first_cpu) != NULL) {
        error_setg(errp, "%s: one vCPU only", what);
        return false;
    }
    if (hypanda_rr_mode != HYPANDA_RR_OFF || rr.pending != NULL) {
        error_setg(errp, "%s: already %s %s", what,
                   hypanda_rr_mode == HYPANDA_RR_REPLAYING ? "replaying" : "recording",
                   rr.pending != NULL ? rr.pending : rr.name);
        return false;
    }
    return true;
}

static bool can_begin(const char *what, const char *name, Error **errp)
{
    if (!can_record_or_replay(what, errp)) {
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
static bool begin_now(CPUState *cpu, const char *name, Error **errp)
{
    BlockList list;
    if (!ram_blocks(&list)) {
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
    GByteArray *state = cpu_state_bytes(cpu);
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
    rr.recorder = r;
    rr.name = g_strdup(name);
    hypanda_rr_base = cpu->hypanda_icount;
    rr.vector = 0;
    hypanda_rr_mode = HYPANDA_RR_RECORDING;
    info_report("recording %s: started", name);
    return true;
}

static void write_pending_dma(uint64_t icount, uint32_t site);

/* Ends the recording at `instructions`. */
static void end_now(uint64_t instructions)
{
    write_pending_dma(instructions, HYPANDA_RR_SITE_DMA_ASYNC); /* nothing is left behind */
    HypandaRrRecorder *r = rr.recorder;
    const uint64_t entries = hypanda_rr_recorder_entries(r);
    uint64_t log_bytes = 0;
    char *err = NULL;
    hypanda_rr_mode = HYPANDA_RR_OFF;
    rr.recorder = NULL;
    g_autofree char *model = g_strdup(object_get_typename(OBJECT(first_cpu)));
    char *suffix = g_strrstr(model, "-" TYPE_X86_CPU);
    if (suffix != NULL) {
        *suffix = '\0';
    }
    if (hypanda_rr_recorder_finish(r, instructions, guest_ram_hash(), model, rr.argc,
                                   (const char *const *)rr.argv, &log_bytes, &err)) {
        info_report("recording %s: %" PRIu64 " instructions, %" PRIu64 " log entries, "
                    "%" PRIu64 " log bytes", rr.name, instructions, entries, log_bytes);
    } else {
        error_report("recording %s: %s", rr.name, err);
        free(err);
    }
    g_free(rr.name);
    rr.name = NULL;
    rr.guest_began = false;
}

/* Starts the pending recording (rr.pending is under the BQL). */
static void begin_pending(CPUState *cpu)
{
    char *name = rr.pending;
    rr.pending = NULL;
    Error *err = NULL;
    if (!begin_now(cpu, name, &err)) {
        error_report_err(err);
    }
    g_free(name);
}

static void begin_work(CPUState *cpu, run_on_cpu_data data)
{
    if (rr.pending != NULL && hypanda_hybrid_engine() != PANDA_ENGINE_KVM) {
        begin_pending(cpu);
    }
    /* else: it ended before it began, or rr_entered_tcg starts it */
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
    begin_now(cpu, req->name, &req->err);
}

static void end_work(CPUState *cpu, run_on_cpu_data data)
{
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        end_now(count_at(cpu, 0));
    }
}

/* Starts a recording at the vCPU's next block boundary; under KVM (hybrid
 * mode), at the switch to TCG. From a monitor (`wait`) it waits for the
 * vCPU to start it, so that an error reaches the monitor; from the guest
 * (on the vCPU, in the middle of an instruction) it cannot wait. */
static bool begin_record(const char *name, bool wait, Error **errp)
{
    if (!can_begin("begin_record", name, errp)) {
        return false;
    }
    rr.guest_began = false;  /* the guest's hypercall says otherwise after */
    if (wait && hypanda_hybrid_engine() != PANDA_ENGINE_KVM) {
        BeginRequest req = {.name = name, .err = NULL};
        run_on_cpu(first_cpu, begin_sync_work, RUN_ON_CPU_HOST_PTR(&req));
        if (req.err != NULL) {
            error_propagate(errp, req.err);
            return false;
        }
        return true;
    }
    rr.pending = g_strdup(name);
    async_run_on_cpu(first_cpu, begin_work, RUN_ON_CPU_NULL);
    return true;
}

static bool end_record(Error **errp)
{
    if (rr.pending != NULL) {
        info_report("recording %s: ended before it started (the guest stayed under KVM)",
                    rr.pending);
        g_free(rr.pending);
        rr.pending = NULL;
        rr.guest_began = false;
        return true;
    }
    if (hypanda_rr_mode != HYPANDA_RR_RECORDING) {
        error_setg(errp, "end_record: nothing is being recorded");
        return false;
    }
    run_on_cpu(first_cpu, end_work, RUN_ON_CPU_NULL);
    return true;
}

static void rr_entered_tcg(CPUState *cpu)
{
    if (rr.pending != NULL) {
        begin_pending(cpu);
    }
}

static void rr_leaving_tcg(CPUState *cpu)
{
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        end_now(count_at(cpu, 0));
    }
}

/* The emulator ends while recording: from a device on the vCPU thread
 * (exit() in isa-debug-exit: the instruction writing to it is the end),
 * or from the main loop with the vCPU stopped between blocks. */
static void end_at_exit(void)
{
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        end_now(current_cpu != NULL && in_device_access ? device_access_count
                                                        : count_at(first_cpu, 0));
    }
}

static void log_dma(uint64_t icount, uint32_t site, uint64_t addr, const uint8_t *data,
                    uint64_t len)
{
    HypandaRrEvent e = {.icount = icount, .addr = addr, .data = data, .data_len = len,
                        .site = site, .kind = HYPANDA_RR_DMA_WRITE};
    hypanda_rr_recorder_event(rr.recorder, &e);
}

/* Writes what devices on other threads wrote into RAM, and logs it at
 * `icount` from `site`: a block boundary (DMA_ASYNC) or a device access
 * (DMA, written before it in replay too). */
static void write_pending_dma(uint64_t icount, uint32_t site)
{
    if (!qatomic_read(&dma_pending)) {
        return;
    }
    qemu_mutex_lock(&pending_lock);
    for (guint i = 0; i < pending_dma->len; i++) {
        PendingDma *d = &g_array_index(pending_dma, PendingDma, i);
        applying_log = true;
        cpu_physical_memory_write(d->addr, d->bytes->data, d->bytes->len);
        applying_log = false;
        log_dma(icount, site, d->addr, d->bytes->data, d->bytes->len);
        g_byte_array_free(d->bytes, true);
    }
    g_array_set_size(pending_dma, 0);
    qatomic_set(&dma_pending, false);
    qemu_mutex_unlock(&pending_lock);
}

void hypanda_rr_shutdown(void)
{
    end_at_exit();
}

/* ---- Replay ---------------------------------------------------------------------- */

static const HypandaRrEvent *next_event(void)
{
    return rr.next < rr.n_events ? &rr.events[rr.next] : NULL;
}

/* Entries replay must stop between blocks for. */
static bool at_boundary(const HypandaRrEvent *e)
{
    return e->kind == HYPANDA_RR_INTERRUPT || e->kind == HYPANDA_RR_END ||
           (e->kind == HYPANDA_RR_DMA_WRITE && e->site == HYPANDA_RR_SITE_DMA_ASYNC);
}

static void find_next_stop(CPUState *cpu)
{
    size_t i = MAX(rr.next, rr.next_stop);
    while (i < rr.n_events && !at_boundary(&rr.events[i])) {
        i++;
    }
    rr.next_stop = i;
    cpu->hypanda_rr_limit = hypanda_rr_base + rr.events[MIN(i, rr.n_events - 1)].icount;
}

static void describe(GString *s, uint8_t kind, uint32_t site, uint64_t addr, uint8_t size)
{
    g_string_append_printf(s, "%s (call site %u", hypanda_rr_kind_name(kind), site);
    if (kind == HYPANDA_RR_PORT_READ) {
        g_string_append_printf(s, ", port 0x%" PRIx64 ", %u bytes", addr, size);
    } else if (kind == HYPANDA_RR_MMIO_READ) {
        g_string_append_printf(s, ", address 0x%" PRIx64 ", %u bytes", addr, size);
    } else if (kind == HYPANDA_RR_INTERRUPT) {
        g_string_append_printf(s, ", request 0x%" PRIx64, addr);
    }
    g_string_append(s, ")");
}

/* On a terminal, replay shows how far it is (a main-loop timer). */
#define PROGRESS_MS 250
static QEMUTimer *progress_timer;
static bool progress_shown;

static void show_progress(void *opaque)
{
    const uint64_t total = hypanda_rr_replay_instructions(rr.replay);
    const uint64_t done = MIN(qatomic_read(&first_cpu->hypanda_icount) - hypanda_rr_base, total);
    const int width = 40;
    const int filled = total == 0 ? width : (int)(done * width / total);
    fprintf(stderr, "\rreplay %s [%.*s%*s] %3d%% %" PRIu64 " / %" PRIu64 " instructions", rr.replay_name,
            filled, "########################################", width - filled, "",
            total == 0 ? 100 : (int)(done * 100 / total), done, total);
    progress_shown = true;
    timer_mod(progress_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + PROGRESS_MS);
}

static void clear_progress(void)
{
    if (progress_shown) {
        fprintf(stderr, "\r\033[K");
        progress_shown = false;
    }
}

/* Reports a replay's one error line and keeps it for -replay-result. */
static void G_GNUC_PRINTF(1, 2) replay_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (rr.result_error == NULL) {
        rr.result_error = g_strdup(line);
    }
    error_report("%s", line);
    g_free(line);
}

/* At exit: the replay's outcome into the -replay-result file. */
static void write_replay_result(void)
{
    char *err = NULL;
    const char *error = rr.result_error;
    if (!rr.result_verified && error == NULL) {
        error = "the emulator ended before the replay did";
    }
    if (!hypanda_rr_write_result(rr.result_path, rr.replay_name != NULL ? rr.replay_name : "",
                                 rr.result_verified, rr.result_instructions,
                                 rr.replay != NULL ? hypanda_rr_replay_instructions(rr.replay) : 0,
                                 rr.result_verified ? "" : error, &err)) {
        fprintf(stderr, "%s\n", err);
        free(err);
    }
}

/* Ends the emulator from the vCPU thread, as isa-debug-exit does: with
 * the BQL, so the main loop is not in the middle of something. */
static G_NORETURN void end_replay(int status)
{
    if (!qemu_mutex_iothread_locked()) {
        qemu_mutex_lock_iothread();
    }
    exit(status);
}

/* Ends the replay: one line, exit status 1. */
static G_NORETURN void diverged(CPUState *cpu, uint64_t icount, const char *what)
{
    CPUX86State *env = &X86_CPU(cpu)->env;
    const HypandaRrEvent *e = next_event();
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "replay %s diverged at instruction %" PRIu64 " (PC 0x" TARGET_FMT_lx
                           "): %s; the recording has ", rr.replay_name, icount, env->eip, what);
    if (e == NULL) {
        g_string_append(s, "nothing more");
    } else {
        describe(s, e->kind, e->site, e->kind == HYPANDA_RR_INTERRUPT ? e->value : e->addr,
                 e->size);
        g_string_append_printf(s, " at instruction %" PRIu64, e->icount);
    }
    clear_progress();
    rr.result_instructions = icount;
    replay_error("%s", s->str);
    g_string_free(s, true);
    end_replay(1);
}

/* Checks the instruction count and guest RAM against the manifest, says
 * so in one line and ends the emulator (status 0 when they agree). */
static G_NORETURN void finish_replay(CPUState *cpu)
{
    const uint64_t n = count_at(cpu, 0);
    const uint64_t want = hypanda_rr_replay_ram_xxh64(rr.replay);
    const uint64_t got = guest_ram_hash();
    rr.result_instructions = n;
    if (got != want) {
        clear_progress();
        replay_error("replay %s: RAM hash %016" PRIx64 " after %" PRIu64 " instructions, the "
                     "recording's is %016" PRIx64, rr.replay_name, got, n, want);
        end_replay(1);
    }
    clear_progress();
    rr.result_verified = true;
    fprintf(stderr, "replay verified: %" PRIu64 " instructions, RAM hash ok\n", n);
    end_replay(0);
}

/* Replay: writes the log's DMA entries due now from `site`. */
static void apply_dma(CPUState *cpu, uint64_t now, uint32_t site)
{
    const HypandaRrEvent *e;
    while ((e = next_event()) != NULL && e->kind == HYPANDA_RR_DMA_WRITE && e->icount == now &&
           e->site == site) {
        DISPATCH(PANDA_CB_REPLAY_BEFORE_CPU_PHYSICAL_MEM_RW_RAM, 0,
                 c->cb.replay_before_cpu_physical_mem_rw_ram(cpu, 1, (uintptr_t)e->data, e->addr,
                                                             e->data_len));
        applying_log = true;
        cpu_physical_memory_write(e->addr, e->data, e->data_len);
        applying_log = false;
        rr.next++;
    }
    if (rr.next > rr.next_stop) {
        find_next_stop(cpu);
    }
}

bool hypanda_rr_device_read_slow(CPUState *cpu, uint8_t kind, uint32_t site, uint64_t addr,
                                 uint8_t size, uintptr_t ra, uint64_t *value)
{
    in_device_access = true;
    device_access_count = count_at(cpu, ra);
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        /* A device that wrote RAM and then says so in a status register. */
        write_pending_dma(device_access_count, HYPANDA_RR_SITE_DMA);
        return false;
    }
    apply_dma(cpu, device_access_count, HYPANDA_RR_SITE_DMA);
    *value = hypanda_rr_input_slow(cpu, kind, site, addr, size, ra, 0);
    return true;
}

uint64_t hypanda_rr_input_slow(CPUState *cpu, uint8_t kind, uint32_t site, uint64_t addr,
                               uint8_t size, uintptr_t ra, uint64_t value)
{
    const uint64_t icount = count_at(cpu, ra);
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        HypandaRrEvent e = {.icount = icount, .addr = addr, .value = value, .site = site,
                            .kind = kind, .size = size};
        hypanda_rr_recorder_event(rr.recorder, &e);
        return value;
    }
    const HypandaRrEvent *e = next_event();
    if (e == NULL || e->kind != kind || e->site != site || e->icount != icount ||
        e->addr != addr || e->size != size) {
        GString *s = g_string_new("this run does ");
        describe(s, kind, site, addr, size);
        char *what = g_string_free(s, false);
        diverged(cpu, icount, what);
    }
    rr.next++;
    return e->value;
}

void hypanda_rr_device_write_slow(CPUState *cpu, uintptr_t ra)
{
    in_device_access = true;
    device_access_count = count_at(cpu, ra);
    if (hypanda_rr_mode == HYPANDA_RR_REPLAYING) {
        apply_dma(cpu, device_access_count, HYPANDA_RR_SITE_DMA);
    }
}

static void defer_dma(uint64_t addr, const void *buf, uint64_t len)
{
    PendingDma d = {.addr = addr, .bytes = g_byte_array_sized_new(len)};
    g_byte_array_append(d.bytes, buf, len);
    qemu_mutex_lock(&pending_lock);
    g_array_append_val(pending_dma, d);
    qatomic_set(&dma_pending, true);
    qemu_mutex_unlock(&pending_lock);
    qemu_cpu_kick(first_cpu);
}

bool hypanda_rr_device_ram_write_slow(uint64_t addr, const void *buf, uint64_t len)
{
    const bool vcpu = current_cpu != NULL;
    if (applying_log || (vcpu && !in_device_access)) {
        return false; /* the CPU's own, or the log's */
    }
    if (hypanda_rr_mode == HYPANDA_RR_REPLAYING) {
        return true;
    }
    if (vcpu) {
        log_dma(device_access_count, HYPANDA_RR_SITE_DMA, addr, buf, len);
        return false;
    }
    defer_dma(addr, buf, len);
    return true;
}

/* address_space_map() for a device writing RAM from another thread gets a
 * buffer of its own: the bytes reach RAM through defer_dma at unmap (in
 * replay they never do). */
typedef struct DmaBounce {
    uint64_t addr;
    uint64_t len;
} DmaBounce;
static GHashTable *bounces; /* buffer -> DmaBounce, under pending_lock */
int hypanda_rr_bounces;     /* how many there are */

void *hypanda_rr_dma_map_slow(uint64_t addr, uint64_t len, bool is_write)
{
    if (!is_write) {
        return NULL;
    }
    DmaBounce *b = g_new(DmaBounce, 1);
    b->addr = addr;
    b->len = len;
    void *buffer = g_malloc0(len);
    qemu_mutex_lock(&pending_lock);
    g_hash_table_insert(bounces, buffer, b);
    qatomic_inc(&hypanda_rr_bounces);
    qemu_mutex_unlock(&pending_lock);
    return buffer;
}

bool hypanda_rr_dma_unmap_slow(void *buffer, uint64_t access_len)
{
    qemu_mutex_lock(&pending_lock);
    DmaBounce *b = g_hash_table_lookup(bounces, buffer);
    if (b != NULL) {
        g_hash_table_remove(bounces, buffer);
        qatomic_dec(&hypanda_rr_bounces);
    }
    qemu_mutex_unlock(&pending_lock);
    if (b == NULL) {
        return false;
    }
    const uint64_t len = MIN(access_len, b->len);
    if (len == 0 || hypanda_rr_mode == HYPANDA_RR_REPLAYING) {
        /* nothing written, or replay: the log has it */
    } else if (hypanda_rr_mode == HYPANDA_RR_RECORDING && current_cpu == NULL) {
        defer_dma(b->addr, buffer, len);
    } else {
        /* the vCPU's thread (a device access: logged as such), or the
         * recording has ended meanwhile */
        applying_log = hypanda_rr_mode == HYPANDA_RR_RECORDING && !in_device_access;
        cpu_physical_memory_write(b->addr, buffer, len);
        applying_log = false;
    }
    g_free(b);
    g_free(buffer);
    return true;
}

int hypanda_rr_vector_slow(CPUState *cpu, int vector)
{
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        rr.vector = vector + 1;
        return vector;
    }
    const HypandaRrEvent *e = next_event();
    if (e == NULL || e->kind != HYPANDA_RR_INTERRUPT) {
        diverged(cpu, count_at(cpu, 0), "this run takes an interrupt");
    }
    return (int)e->addr - 1;
}

void hypanda_rr_interrupt_taken_slow(CPUState *cpu, uint32_t request, uint32_t site)
{
    if (request & CPU_INTERRUPT_POLL) {
        return; /* an APIC poll: what it raises is taken later */
    }
    const uint64_t icount = count_at(cpu, 0);
    const uint32_t bits = request & DEVICE_INTERRUPTS;
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        write_pending_dma(icount, HYPANDA_RR_SITE_DMA_ASYNC); /* before the interrupt */
        HypandaRrEvent e = {.icount = icount, .addr = rr.vector, .value = bits, .site = site,
                            .kind = HYPANDA_RR_INTERRUPT};
        hypanda_rr_recorder_event(rr.recorder, &e);
        rr.vector = 0;
        return;
    }
    const HypandaRrEvent *e = next_event();
    if (e == NULL || e->kind != HYPANDA_RR_INTERRUPT || e->icount != icount || e->value != bits ||
        e->site != site) {
        GString *s = g_string_new("this run takes ");
        describe(s, HYPANDA_RR_INTERRUPT, site, bits, 0);
        char *what = g_string_free(s, false);
        diverged(cpu, icount, what);
    }
    rr.next++;
    find_next_stop(cpu);
}

void hypanda_rr_boundary_slow(CPUState *cpu)
{
    in_device_access = false;
    if (hypanda_rr_mode == HYPANDA_RR_RECORDING) {
        write_pending_dma(count_at(cpu, 0), HYPANDA_RR_SITE_DMA_ASYNC);
        return;
    }
    const uint64_t now = count_at(cpu, 0);
    apply_dma(cpu, now, HYPANDA_RR_SITE_DMA_ASYNC);
    const HypandaRrEvent *e = next_event();
    if (e != NULL && e->kind == HYPANDA_RR_END && e->icount == now) {
        finish_replay(cpu);
    }
    /* The devices' lines are the log's: raised only before the instruction
     * at which the recording took an interrupt. */
    uint32_t bits = 0;
    if (e != NULL && e->kind == HYPANDA_RR_INTERRUPT && e->icount == now) {
        bits = e->value;
    } else if (cpu->halted) {
        diverged(cpu, now, "this run waits halted for an interrupt");
    }
    if ((qatomic_read(&cpu->interrupt_request) & DEVICE_INTERRUPTS) != bits) {
        qemu_mutex_lock_iothread();
        cpu->interrupt_request = (cpu->interrupt_request & ~DEVICE_INTERRUPTS) | bits;
        qemu_mutex_unlock_iothread();
    }
}

void hypanda_rr_bound_block_slow(CPUState *cpu, uint32_t *cflags)
{
    const uint64_t now = count_at(cpu, 0);
    const HypandaRrEvent *stop = &rr.events[rr.next_stop];
    if (stop->icount < now) {
        diverged(cpu, now, "this run went past it");
    }
    const uint64_t budget = stop->icount - now;
    if (budget == 0) {
        if (stop->kind == HYPANDA_RR_END && rr.next == rr.next_stop) {
            finish_replay(cpu);
        }
        diverged(cpu, now, "this run does not take it here");
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

/* Standard error redirected to a memory file while QEMU's vmstate loader
 * runs on untrusted bytes. */
typedef struct CapturedStderr {
    int saved;  /* the real stderr, -1 if capturing failed */
    int memory;
} CapturedStderr;

static void capture_stderr(CapturedStderr *c)
{
    fflush(stderr);
    c->memory = memfd_create("hypanda-stderr", MFD_CLOEXEC);
    c->saved = c->memory < 0 ? -1 : dup(STDERR_FILENO);
    if (c->saved < 0 || dup2(c->memory, STDERR_FILENO) < 0) {
        if (c->saved >= 0) {
            close(c->saved);
        }
        c->saved = -1;
    }
}

/* Restores stderr; returns what was written meanwhile as one line (the
 * program's name prefixes dropped, lines joined with "; "), or with
 * `replay` writes it back to stderr as it was and returns "". */
static char *release_stderr(CapturedStderr *c, bool replay)
{
    if (c->saved < 0) {
        if (c->memory >= 0) {
            close(c->memory);
        }
        return g_strdup("");
    }
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    GString *text = g_string_new(NULL);
    char buf[4096];
    ssize_t n;
    lseek(c->memory, 0, SEEK_SET);
    while ((n = read(c->memory, buf, sizeof buf)) > 0 && text->len < 65536) {
        g_string_append_len(text, buf, n);
    }
    close(c->memory);
    if (replay) {
        if (text->len > 0 && write(STDERR_FILENO, text->str, text->len) < 0) {
            /* nothing more to be done */
        }
        g_string_free(text, true);
        return g_strdup("");
    }
    GString *line = g_string_new(NULL);
    g_auto(GStrv) parts = g_strsplit(text->str, "\n", -1);
    const char *prefix = g_get_prgname();
    for (char **p = parts; *p != NULL; p++) {
        const char *part = *p;
        if (prefix != NULL && g_str_has_prefix(part, prefix) && part[strlen(prefix)] == ':') {
            part += strlen(prefix) + 1;
        }
        part += strspn(part, " ");
        if (*part == '\0') {
            continue;
        }
        if (line->len > 0) {
            g_string_append(line, "; ");
        }
        for (const char *q = part; *q != '\0'; q++) {
            g_string_append_c(line, g_ascii_iscntrl(*q) ? ' ' : *q);
        }
    }
    g_string_free(text, true);
    return g_string_free(line, false);
}

/* Loads the snapshot into this machine, which must have the recording's
 * RAM blocks. */
static bool load_snapshot_into_machine(CPUState *cpu, Error **errp)
{
    const HypandaRrBlock *blocks;
    const size_t n = hypanda_rr_replay_blocks(rr.replay, &blocks);
    BlockList list;
    if (!ram_blocks(&list)) {
        error_setg(errp, "this machine has more than %zu RAM blocks", ARRAY_SIZE(list.blocks));
        return false;
    }
    if (strcmp(blocks[0].name, qemu_ram_get_idstr(list.blocks[0])) != 0) {
        error_setg(errp, "the recording's guest RAM is \"%s\", this machine's \"%s\"",
                   blocks[0].name, qemu_ram_get_idstr(list.blocks[0]));
        return false;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        RAMBlock *rb = qemu_ram_block_by_name(blocks[i].name);
        if (rb == NULL) {
            error_setg(errp, "this machine has no RAM block \"%s\" (the recording's machine had)",
                       blocks[i].name);
            return false;
        }
        if (qemu_ram_get_used_length(rb) != blocks[i].bytes) {
            error_setg(errp, "RAM block \"%s\" has %" PRIu64 " bytes here, %" PRIu64
                       " in the recording", blocks[i].name,
                       (uint64_t)qemu_ram_get_used_length(rb), blocks[i].bytes);
            return false;
        }
        total += blocks[i].bytes;
    }
    if (list.count != n) {
        error_setg(errp, "this machine has %zu RAM blocks, the recording's had %zu", list.count, n);
        return false;
    }
    uint8_t *ram = g_try_malloc(total);
    char *err = NULL;
    if (ram == NULL) {
        error_setg(errp, "cannot allocate %" PRIu64 " bytes for the snapshot's RAM", total);
        return false;
    }
    if (!hypanda_rr_replay_read_ram(rr.replay, ram, &err)) {
        error_setg(errp, "%s", err);
        free(err);
        g_free(ram);
        return false;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        RAMBlock *rb = qemu_ram_block_by_name(blocks[i].name);
        memcpy(qemu_ram_get_host_addr(rb), ram + off, blocks[i].bytes);
        off += blocks[i].bytes;
    }
    g_free(ram);

    size_t len;
    const uint8_t *state = hypanda_rr_replay_cpu_state(rr.replay, &len);
    const size_t features = 4 + FEATURE_WORDS * 8;
    if (len < features || ldl_le_p(state) != FEATURE_WORDS) {
        error_setg(errp, "the snapshot's CPU state does not start with %d CPUID feature words",
                   FEATURE_WORDS);
        return false;
    }
    CPUX86State *env = &X86_CPU(cpu)->env;
    for (int i = 0; i < FEATURE_WORDS; i++) {
        env->features[i] = ldq_le_p(state + 4 + i * 8);
    }
    state += features;
    len -= features;
    QIOChannelBuffer *bioc = qio_channel_buffer_new(len);
    memcpy(bioc->data, state, len);
    bioc->usage = len;
    QEMUFile *f = qemu_file_new_input(QIO_CHANNEL(bioc));
    /* The loader reports what it refuses on stderr, a line a field: they
     * become the end of our one line. */
    CapturedStderr captured;
    capture_stderr(&captured);
    const int ret = vmstate_load_state(f, &vmstate_x86_cpu, X86_CPU(cpu), vmstate_x86_cpu.version_id);
    g_autofree char *said = release_stderr(&captured, ret >= 0);
    qemu_fclose(f);
    object_unref(OBJECT(bioc));
    if (ret < 0) {
        error_setg(errp, "the snapshot's CPU state does not load (error %d%s%s)", ret,
                   said[0] != '\0' ? ": " : "", said);
        return false;
    }
    return true;
}

static void start_replay(void)
{
    CPUState *cpu = first_cpu;
    Error *err = NULL;
    char *msg = NULL;
    if (!can_record_or_replay("-replay", &err)) {
        replay_error("%s", error_get_pretty(err));
        exit(1);
    }
    rr.replay = hypanda_rr_replay_open(rr.replay_name, &msg);
    if (rr.replay == NULL) {
        replay_error("-replay %s: %s", rr.replay_name, msg);
        exit(1);
    }
    if (!load_snapshot_into_machine(cpu, &err)) {
        replay_error("-replay %s: %s", rr.replay_name, error_get_pretty(err));
        exit(1);
    }
    rr.n_events = hypanda_rr_replay_events(rr.replay, &rr.events);
    rr.next = 0;
    rr.next_stop = 0;
    panda_enable_instr_count();
    hypanda_rr_base = cpu->hypanda_icount;
    find_next_stop(cpu);
    hypanda_rr_mode = HYPANDA_RR_REPLAYING;
    info_report("replaying %s: %" PRIu64 " instructions, %zu log entries", rr.replay_name,
                hypanda_rr_replay_instructions(rr.replay), rr.n_events - 1);
    if (isatty(STDERR_FILENO)) {
        progress_timer = timer_new_ms(QEMU_CLOCK_REALTIME, show_progress, NULL);
        timer_mod(progress_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + PROGRESS_MS);
    }
}

/* ---- Options, start-up, monitor ---------------------------------------------------- */

void hypanda_cmdline_record_from(const char *optarg)
{
    const char *colon = strrchr(optarg, ':');
    if (colon == NULL || colon[1] == '\0') {
        error_report("-record-from %s: expected SNAPSHOT:NAME (SNAPSHOT may be empty: "
                     "record from power-on)", optarg);
        exit(1);
    }
    rr.record_from_snapshot = g_strndup(optarg, colon - optarg);
    rr.record_from_name = g_strdup(colon + 1);
}

void hypanda_cmdline_replay(const char *optarg)
{
    if (rr.replay_args_error != NULL) {
        /* QEMU's location prefixes "-replay NAME: " on the terminal; the
         * result file gets the same line. */
        rr.result_error = g_strdup_printf("-replay %s: %s", optarg, rr.replay_args_error);
        rr.replay_name = g_strdup(optarg);
        error_report("%s", rr.replay_args_error);
        exit(1);
    }
    rr.replay_name = g_strdup(optarg);
}

void hypanda_cmdline_replay_result(const char *optarg)
{
    /* Taken before the options are parsed (hypanda_rr_replay_arguments),
     * so that every way a replay ends is in the file. */
}

static bool rr_guest_begin(const char *name);
static uint32_t rr_guest_end(void);

/* Hybrid mode's switches: a recording asked for under KVM begins once the
 * guest is in TCG; a recording ends when the guest leaves TCG. */
static void on_engine_change(Notifier *notifier, void *data)
{
    const HypandaEngineChange *change = data;
    if (change->event == HYPANDA_ENGINE_ENTERED_TCG) {
        rr_entered_tcg(change->cpu);
    } else if (change->event == HYPANDA_ENGINE_LEAVING_TCG) {
        rr_leaving_tcg(change->cpu);
    }
}

static Notifier engine_notifier = {.notify = on_engine_change};
static const HypandaRecorder guest_recorder = {.begin = rr_guest_begin, .end = rr_guest_end};

void hypanda_rr_startup(void)
{
    hypanda_hybrid_add_engine_notifier(&engine_notifier);
    hypanda_hypercall_set_recorder(&guest_recorder);
    qemu_mutex_init(&pending_lock);
    pending_dma = g_array_new(false, false, sizeof(PendingDma));
    bounces = g_hash_table_new(NULL, NULL);
    atexit(end_at_exit);
    if (rr.replay_name != NULL && rr.record_from_name != NULL) {
        error_report("-replay and -record-from cannot be used together");
        exit(1);
    }
    if (rr.replay_name != NULL) {
        start_replay();
        return;
    }
    if (rr.record_from_name != NULL) {
        Error *err = NULL;
        if (rr.record_from_snapshot[0] != '\0' &&
            !load_snapshot(rr.record_from_snapshot, NULL, false, NULL, &err)) {
            error_prepend(&err, "-record-from %s:%s: ", rr.record_from_snapshot, rr.record_from_name);
            error_report_err(err);
            exit(1);
        }
        if (!can_begin("-record-from", rr.record_from_name, &err)) {
            error_report_err(err);
            exit(1);
        }
        if (hypanda_hybrid_engine() == PANDA_ENGINE_KVM) {
            rr.pending = g_strdup(rr.record_from_name);
            info_report("recording %s: starts when the guest switches to TCG", rr.pending);
        } else if (!begin_now(first_cpu, rr.record_from_name, &err)) {
            error_report_err(err);
            exit(1);
        }
    }
}

static bool rr_guest_begin(const char *name)
{
    Error *err = NULL;
    if (!begin_record(name, false, &err)) {
        warn_report_err(err);
        return false;
    }
    rr.guest_began = true;
    return true;
}

/* A guest ends only the recording it began: one the host began (QMP,
 * the monitor, -record-from) is the analyst's, and the guest under
 * analysis must not cut it short. */
static uint32_t rr_guest_end(void)
{
    const char *name = rr.pending != NULL ? rr.pending : rr.name;
    if (name != NULL && !rr.guest_began) {
        warn_report("the guest's END_RECORD hypercall: recording %s was begun by the host, not the guest; "
                    "it goes on", name);
        return HYPANDA_HC_ERR_FORBIDDEN;
    }
    if (rr.pending != NULL || hypanda_rr_mode != HYPANDA_RR_RECORDING) {
        Error *err = NULL;
        const bool ok = end_record(&err);
        if (!ok) {
            warn_report_err(err);
        }
        return ok ? HYPANDA_HC_OK : HYPANDA_HC_ERR_UNAVAILABLE;
    }
    /* On the vCPU thread, inside the hypercall's port read: the recording
     * ends before that instruction. */
    end_now(in_device_access ? device_access_count : count_at(current_cpu, 0));
    return HYPANDA_HC_OK;
}

void hmp_begin_record(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;
    const char *name = qdict_get_str(qdict, "name");
    if (begin_record(name, true, &err)) {
        monitor_printf(mon, hypanda_hybrid_engine() == PANDA_ENGINE_KVM
                                ? "recording %s: starts when the guest switches to TCG\n"
                                : "recording %s: started\n",
                       name);
    } else {
        monitor_printf(mon, "error: %s\n", error_get_pretty(err));
        error_free(err);
    }
}

void hmp_end_record(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;
    if (end_record(&err)) {
        monitor_printf(mon, "recording ended\n");
    } else {
        monitor_printf(mon, "error: %s\n", error_get_pretty(err));
        error_free(err);
    }
}

static void qmp_begin_record(QDict *args, QObject **ret, Error **errp)
{
    static const char *const spec[] = {"name:s", NULL};
    if (hypanda_qmp_check_args("begin-record", args, spec, errp)) {
        begin_record(qdict_get_str(args, "name"), true, errp);
    }
}

static void qmp_end_record(QDict *args, QObject **ret, Error **errp)
{
    static const char *const spec[] = {NULL};
    if (hypanda_qmp_check_args("end-record", args, spec, errp)) {
        end_record(errp);
    }
}

void hypanda_rr_register_qmp(void)
{
    qmp_register_command(&qmp_commands, "begin-record", qmp_begin_record, 0, 0);
    qmp_register_command(&qmp_commands, "end-record", qmp_end_record, 0, 0);
}

void hypanda_rr_replay_arguments(int *argc, char ***argv)
{
    rr.argc = *argc;
    rr.argv = g_new0(char *, *argc + 1);
    for (int i = 0; i < *argc; i++) {
        rr.argv[i] = g_strdup((*argv)[i]);
    }
    const char *name = NULL;
    for (int i = 1; i + 1 < *argc; i++) {
        if (strcmp((*argv)[i], "-replay") == 0 || strcmp((*argv)[i], "--replay") == 0) {
            name = (*argv)[i + 1];
        } else if ((strcmp((*argv)[i], "-replay-result") == 0 ||
                    strcmp((*argv)[i], "--replay-result") == 0) && rr.result_path == NULL) {
            rr.result_path = g_strdup((*argv)[i + 1]);
            atexit(write_replay_result);
        }
    }
    if (name == NULL) {
        return;
    }
    int n = 0;
    char *err = NULL;
    char **machine = hypanda_rr_replay_machine_args(name, &n, &err);
    if (machine == NULL) {
        /* Said when -replay is parsed: QEMU cannot exit this early. */
        rr.replay_args_error = err;
        return;
    }
    /* Lives as long as the emulator, as argv does. */
    char **args = g_new0(char *, *argc + n + 1);
    args[0] = (*argv)[0];
    memcpy(args + 1, machine, n * sizeof(char *));
    memcpy(args + 1 + n, *argv + 1, (*argc - 1) * sizeof(char *));
    free(machine);
    *argc += n;
    *argv = args;
}
