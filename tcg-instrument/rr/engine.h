/*
 * The recording's files as the emulator sees them: a C interface to the
 * C++ format library (log.h, snapshot.h, manifest.h) for the QEMU glue
 * (rr/system/), and the machine-state blob the snapshot carries.
 *
 * Errors come back as one line in *err, allocated with malloc (the caller
 * frees it).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_RR_ENGINE_H
#define HYPANDA_RR_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The nondet log's kinds (log.h, docs/recording.md). */
enum {
    HYPANDA_RR_PORT_READ = 1,
    HYPANDA_RR_MMIO_READ = 2,
    HYPANDA_RR_DMA_WRITE = 3,
    HYPANDA_RR_INTERRUPT = 4,
    HYPANDA_RR_RDTSC = 5,
    HYPANDA_RR_RDRAND = 6,
    HYPANDA_RR_RDSEED = 7,
    HYPANDA_RR_EXIT_REQUEST = 8,
    HYPANDA_RR_END = 9,
    HYPANDA_RR_DMA_READ = 10,
    HYPANDA_RR_DISK = 11,
    HYPANDA_RR_PACKET = 12,
};
/* Disk entries' types (PANDA's Hd_transfer_type) and packet directions. */
enum {
    HYPANDA_RR_HD_TO_IOB = 0,
    HYPANDA_RR_IOB_TO_HD = 1,
    HYPANDA_RR_PORT_TO_IOB = 2,
    HYPANDA_RR_IOB_TO_PORT = 3,
    HYPANDA_RR_HD_TO_RAM = 4,
    HYPANDA_RR_RAM_TO_HD = 5,
};
enum { HYPANDA_RR_PACKET_RECEIVED = 0, HYPANDA_RR_PACKET_SENT = 1 };
/* A packet entry's frame, at most (longer ones are cut). */
#define HYPANDA_RR_MAX_PACKET 65600

typedef struct HypandaRrEvent {
    uint64_t icount; /* guest instructions of the recording completed before it */
    uint64_t addr;
    uint64_t value;
    const uint8_t *data; /* DMA bytes, a packet's frame */
    uint64_t data_len;
    uint64_t length;     /* dma-read, disk */
    uint32_t site;
    uint8_t kind;
    uint8_t size;
} HypandaRrEvent;

const char *hypanda_rr_kind_name(uint8_t kind);

/* A RAM block as the snapshot lists it. The first is the guest's RAM,
 * the one the manifest's size and end hash describe. */
typedef struct HypandaRrBlock {
    const char *name;
    uint64_t bytes;
} HypandaRrBlock;

/* ---- recording ---- */

typedef struct HypandaRrRecorder HypandaRrRecorder;

/* Creates the folder `dir` (it must not exist) with the snapshot's header,
 * the RAM blocks' table and the CPU state; RAM follows with
 * hypanda_rr_recorder_ram, block after block in table order. */
HypandaRrRecorder *hypanda_rr_recorder_open(const char *dir, const HypandaRrBlock *blocks,
                                            size_t n_blocks, const void *cpu_state,
                                            size_t cpu_state_len, char **err);
void hypanda_rr_recorder_ram(HypandaRrRecorder *r, const void *data, size_t n);
/* After all RAM: finishes the snapshot and opens the log. */
bool hypanda_rr_recorder_start_log(HypandaRrRecorder *r, char **err);
void hypanda_rr_recorder_event(HypandaRrRecorder *r, const HypandaRrEvent *e);
uint64_t hypanda_rr_recorder_entries(const HypandaRrRecorder *r);
/* Gives up a recording that could not start (its folder stays, without a
 * manifest); frees r. */
void hypanda_rr_recorder_discard(HypandaRrRecorder *r);
/* Ends the log at `instructions` and writes the manifest; frees r. */
bool hypanda_rr_recorder_finish(HypandaRrRecorder *r, uint64_t instructions, uint64_t ram_xxh64,
                                const char *cpu_model, int argc, const char *const *argv,
                                uint64_t *log_bytes, char **err);

/* ---- replay ---- */

typedef struct HypandaRrReplay HypandaRrReplay;

/* Reads and checks a whole recording: manifest, both files' sizes and
 * checksums, the snapshot's header and block table, the whole log. */
HypandaRrReplay *hypanda_rr_replay_open(const char *dir, char **err);
void hypanda_rr_replay_close(HypandaRrReplay *r);

size_t hypanda_rr_replay_blocks(const HypandaRrReplay *r, const HypandaRrBlock **blocks);
const uint8_t *hypanda_rr_replay_cpu_state(const HypandaRrReplay *r, size_t *len);
/* Decompresses all RAM blocks, concatenated in table order, into `dst`. */
bool hypanda_rr_replay_read_ram(HypandaRrReplay *r, uint8_t *dst, char **err);
/* The same into `n` RAM blocks of `bytes[i]` at `dst[i]`, in the snapshot's
 * block order, writing only pages that differ. */
bool hypanda_rr_replay_read_ram_blocks(HypandaRrReplay *r, uint8_t *const *dst, const uint64_t *bytes, size_t n,
                                       char **err);
/* The log's entries; the last is the end entry. */
size_t hypanda_rr_replay_events(const HypandaRrReplay *r, const HypandaRrEvent **events);
uint64_t hypanda_rr_replay_instructions(const HypandaRrReplay *r);
uint64_t hypanda_rr_replay_ram_xxh64(const HypandaRrReplay *r);

/* Writes a replay's outcome to `path` as result.h defines it. */
bool hypanda_rr_write_result(const char *path, const char *recording, bool verified, uint64_t instructions,
                             uint64_t recorded, const char *error, char **err);

/* For -replay: the recording's machine options (its command line without
 * what needs host files or devices: disks, kernel, network back-ends,
 * displays, monitors, plugins) and -accel tcg, for the emulator to parse
 * before the options it was given. A NULL-terminated array of `*argc`
 * strings, all from malloc. */
char **hypanda_rr_replay_machine_args(const char *dir, int *argc, char **err);

#ifdef __cplusplus
}
#endif

#endif
