/*
 * Record/replay's engine in the system emulator (x86), shared by its
 * parts (docs/recording.md, "The engine side"):
 *
 *   machine.c  the instruction count, RAM blocks and hash, CPU state,
 *              loading a snapshot into the machine
 *   record.c   beginning and ending a recording
 *   devices.c  what devices write into RAM, held back for the vCPU to log,
 *              and what they transfer (disk, network) for replay's callbacks
 *   replay.c   matching the log: inputs, interrupts, block bounds, the end
 *   report.c   what a replay says: divergence, progress, the result file
 *   startup.c  options, start-up, the monitor, the guest's hypercalls
 *
 * QEMU's call sites are declared in ../hooks.h; the files are written and
 * read by the format library through ../engine.h. One vCPU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_RR_SYSTEM_STATE_H
#define HYPANDA_RR_SYSTEM_STATE_H

#include "qemu/osdep.h"
#include "exec/cpu-common.h"
#include "qapi/error.h"

#include "hypanda/tcg-instrument/rr/engine.h"
#include "hypanda/tcg-instrument/rr/hooks.h"

/* The interrupt requests devices raise (everything else the CPU raises
 * itself, deterministically). */
#define DEVICE_INTERRUPTS                                                            \
    (CPU_INTERRUPT_HARD | CPU_INTERRUPT_POLL | CPU_INTERRUPT_SMI | CPU_INTERRUPT_NMI | \
     CPU_INTERRUPT_MCE | CPU_INTERRUPT_INIT | CPU_INTERRUPT_SIPI | CPU_INTERRUPT_TPR)

typedef struct HypandaRrState {
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
} HypandaRrState;
extern HypandaRrState hypanda_rr;

/* The vCPU thread's last device access since the last block boundary:
 * RAM written meanwhile is the device's (DMA), and a recording a device
 * ends (exit() in isa-debug-exit) ends at that instruction. */
extern __thread bool hypanda_rr_in_device_access;
extern __thread uint64_t hypanda_rr_device_access_count;
/* Hypanda itself writing DMA bytes (the log's in replay, held-back ones
 * while recording): not a device's write. */
extern __thread bool hypanda_rr_applying_log;

/* machine.c */
/* The recording's count at a helper's return address `ra` (0: between
 * blocks). */
uint64_t hypanda_rr_count_at(CPUState *cpu, uintptr_t ra);
uint64_t hypanda_rr_guest_ram_hash(void);
typedef struct RAMBlock RAMBlock;
typedef struct HypandaRrBlockList {
    RAMBlock *blocks[256];
    size_t count;
    bool too_many;
} HypandaRrBlockList;
/* The machine's RAM blocks, the guest's RAM first. */
bool hypanda_rr_ram_blocks(HypandaRrBlockList *list);
GByteArray *hypanda_rr_cpu_state_bytes(CPUState *cpu);
/* Loads the replay's snapshot into this machine, which must have the
 * recording's RAM blocks. */
bool hypanda_rr_load_snapshot(CPUState *cpu, Error **errp);

/* record.c */
bool hypanda_rr_can_record_or_replay(const char *what, Error **errp);
bool hypanda_rr_can_begin(const char *what, const char *name, Error **errp);
bool hypanda_rr_begin_now(CPUState *cpu, const char *name, Error **errp);
void hypanda_rr_end_now(uint64_t instructions);
bool hypanda_rr_begin_record(const char *name, bool wait, Error **errp);
bool hypanda_rr_end_record(Error **errp);
void hypanda_rr_entered_tcg(CPUState *cpu);
void hypanda_rr_leaving_tcg(CPUState *cpu);
void hypanda_rr_end_at_exit(void);

/* devices.c */
void hypanda_rr_devices_init(void);
/* Recording: logs at `icount` from `site` what devices on other threads
 * did since (and writes the RAM they wrote). */
void hypanda_rr_write_pending(uint64_t icount, uint32_t site);

/* replay.c */
const HypandaRrEvent *hypanda_rr_next_event(void);
void hypanda_rr_start_replay(void);

/* report.c */
void hypanda_rr_describe(GString *s, uint8_t kind, uint32_t site, uint64_t addr, uint8_t size);
void hypanda_rr_start_progress(void);
void hypanda_rr_clear_progress(void);
void G_GNUC_PRINTF(1, 2) hypanda_rr_replay_error(const char *fmt, ...);
void hypanda_rr_write_replay_result(void);
G_NORETURN void hypanda_rr_end_replay(int status);
G_NORETURN void hypanda_rr_diverged(CPUState *cpu, uint64_t icount, const char *what);

#endif
