/*
 * devlog: what replay says the devices did, through the replay callbacks
 * (docs/recording.md): every network frame (replay_handle_packet), every
 * disk transfer (replay_hd_transfer) and every DMA into or out of RAM
 * (replay_before_cpu_physical_mem_rw_ram). For the Linux record/replay test,
 * which compares them with what the host's server sent and with the file
 * the guest wrote to its disk.
 *
 * Arguments:
 *   frames=FILE  every frame, in order: u8 direction (0 received, 1 sent),
 *                u32 length, u64 guest address, the bytes (little-endian)
 *   disk=FILE    the disk as the guest wrote it: at each RAM-to-disk
 *                transfer, the guest RAM it names is read and written at
 *                its disk offset (a sparse file)
 *   output=FILE  counts at the end, one "name value" a line: transfers by
 *                type (disk_type_N), bytes to and from the disk, frames and
 *                their bytes by direction, DMA writes and reads, and
 *                callbacks whose arguments made no sense (bad)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <panda/plugin.h>

#include "output.h"

#define RAM_TO_HD 5 /* PANDA's Hd_transfer_type */
#define HD_TO_RAM 4

static char output[4096];
static FILE *frames;
static int disk = -1;
static uint64_t disk_types[6], to_disk_bytes, from_disk_bytes, frames_in, frames_out, bytes_in, bytes_out;
static uint64_t dma_writes, dma_reads, bad;

static void put_le(FILE *f, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        fputc((int)(v >> (8 * i)) & 0xff, f);
    }
}

static int on_packet(CPUState *cpu, uint8_t *buf, int size, uint8_t direction, uint64_t addr)
{
    (void)cpu;
    if (size < 0 || direction > 1 || (size > 0 && buf == NULL)) {
        bad++;
        return 0;
    }
    if (direction == 0) {
        frames_in++;
        bytes_in += size;
    } else {
        frames_out++;
        bytes_out += size;
    }
    if (frames != NULL) {
        put_le(frames, direction, 1);
        put_le(frames, (uint64_t)size, 4);
        put_le(frames, addr, 8);
        fwrite(buf, 1, size, frames);
    }
    return 0;
}

static int on_disk(CPUState *cpu, uint32_t type, uint64_t src, uint64_t dest, uint32_t n)
{
    (void)cpu;
    if (type >= 6) {
        bad++;
        return 0;
    }
    disk_types[type]++;
    if (type == HD_TO_RAM) {
        from_disk_bytes += n;
    }
    if (type != RAM_TO_HD) {
        return 0;
    }
    to_disk_bytes += n;
    if (disk < 0) {
        return 0;
    }
    uint8_t *data = malloc(n);
    if (data == NULL || panda_physical_memory_rw(src, data, (int)n, 0) != 0 ||
        pwrite(disk, data, n, (off_t)dest) != (ssize_t)n) {
        bad++;
    }
    free(data);
    return 0;
}

static int on_dma(CPUState *cpu, uint32_t is_write, uint64_t src, uint64_t dest, uint32_t n)
{
    (void)cpu;
    (void)src;
    (void)dest;
    (void)n;
    if (is_write == 1) {
        dma_writes++;
    } else if (is_write == 0) {
        dma_reads++;
    } else {
        bad++;
    }
    return 0;
}

bool init_plugin(void *self)
{
    panda_arg_list *args = panda_get_args("devlog");
    const char *frames_path = panda_parse_string_opt(args, "frames", "", "file for the frames");
    const char *disk_path = panda_parse_string_opt(args, "disk", "", "file for the disk as written");
    snprintf(output, sizeof output, "%s", panda_parse_string_opt(args, "output", "", "file for the counts"));
    if (frames_path[0] != '\0' && (frames = fopen(frames_path, "wb")) == NULL) {
        fprintf(stderr, "devlog: cannot write %s\n", frames_path);
        panda_free_args(args);
        return false;
    }
    if (disk_path[0] != '\0' && (disk = open(disk_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0) {
        fprintf(stderr, "devlog: cannot write %s\n", disk_path);
        panda_free_args(args);
        return false;
    }
    panda_free_args(args);
    panda_cb cb;
    cb.replay_handle_packet = on_packet;
    panda_register_callback(self, PANDA_CB_REPLAY_HANDLE_PACKET, cb);
    cb.replay_hd_transfer = on_disk;
    panda_register_callback(self, PANDA_CB_REPLAY_HD_TRANSFER, cb);
    cb.replay_before_cpu_physical_mem_rw_ram = on_dma;
    panda_register_callback(self, PANDA_CB_REPLAY_BEFORE_CPU_PHYSICAL_MEM_RW_RAM, cb);
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    if (frames != NULL) {
        fclose(frames);
    }
    if (disk >= 0) {
        close(disk);
    }
    FILE *out = test_output_open(output);
    if (out == NULL) {
        return;
    }
    for (int i = 0; i < 6; i++) {
        fprintf(out, "disk_type_%d %" PRIu64 "\n", i, disk_types[i]);
    }
    fprintf(out, "to_disk_bytes %" PRIu64 "\nfrom_disk_bytes %" PRIu64 "\n", to_disk_bytes, from_disk_bytes);
    fprintf(out, "frames_in %" PRIu64 "\nframes_out %" PRIu64 "\nbytes_in %" PRIu64 "\nbytes_out %" PRIu64 "\n",
            frames_in, frames_out, bytes_in, bytes_out);
    fprintf(out, "dma_writes %" PRIu64 "\ndma_reads %" PRIu64 "\nbad %" PRIu64 "\n", dma_writes, dma_reads, bad);
    test_output_close(out);
}
