/*
 * memhash: the memory benchmark's plugin, the counterpart of the QEMU
 * counter plugin's what=mem (tests/qemu-plugins/counter.c): counts every
 * guest read and write the virtual-address memory callbacks report and
 * hashes each one's PC, address, size and direction with FNV-1a. No
 * filtering and no other work, so the two do the same job.
 *
 * Argument: output=FILE ("mem_reads N", "mem_writes N", "mem_hash N").
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stdio.h>

#include <panda/plugin.h>

#include "output.h"

static uint64_t reads, writes, hash = 0xcbf29ce484222325ull;
static char output[4096];

static void hash_u64(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        hash = (hash ^ (uint8_t)(v >> (8 * i))) * 0x100000001b3ull;
    }
}

static void account(target_ulong pc, target_ulong addr, target_ulong size, bool write)
{
    if (write) {
        writes++;
    } else {
        reads++;
    }
    hash_u64(pc);
    hash_u64(addr);
    hash_u64(size);
    hash_u64(write);
}

static int on_read(CPUState *cpu, target_ulong pc, target_ulong addr, target_ulong size, void *buf)
{
    (void)cpu;
    (void)buf;
    account(pc, addr, size, false);
    return 0;
}

static int on_write(CPUState *cpu, target_ulong pc, target_ulong addr, target_ulong size, void *buf)
{
    (void)cpu;
    (void)buf;
    account(pc, addr, size, true);
    return 0;
}

bool init_plugin(void *self)
{
    panda_arg_list *args = panda_get_args("memhash");
    snprintf(output, sizeof output, "%s", panda_parse_string_opt(args, "output", "", "counts file"));
    panda_free_args(args);
    panda_cb cb;
    cb.virt_mem_read = on_read;
    panda_register_callback(self, PANDA_CB_VIRT_MEM_READ, cb);
    cb.virt_mem_write = on_write;
    panda_register_callback(self, PANDA_CB_VIRT_MEM_WRITE, cb);
    panda_enable_memcb();
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    FILE *out = test_output_open(output);
    if (out == NULL) {
        return;
    }
    fprintf(out, "mem_reads %" PRIu64 "\nmem_writes %" PRIu64 "\nmem_hash %" PRIu64 "\n", reads, writes,
            hash);
    test_output_close(out);
}
