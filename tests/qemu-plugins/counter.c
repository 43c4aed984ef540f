/*
 * A plugin for QEMU's own TCG plugin API (-plugin), the reference the
 * agreement tests hold Hypanda's callbacks to, and its counterpart in the
 * benchmarks: it counts executed translation blocks and executed
 * instructions and writes "blocks N" and "insns N" to out=FILE at exit.
 * Arguments: out=FILE; what=both|blocks|insns (default both); mode=inline
 * (counters updated by generated code, the default) or mode=cb (a callback
 * per block / instruction, like Hypanda's); what=mem counts and hashes the
 * memory accesses of instructions at memlo <= pc < memhi (FNV-1a over pc,
 * address, size, is-store), writing "mem_reads", "mem_writes", "mem_hash".
 * One vCPU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static uint64_t blocks, insns;
static bool count_mem;
static uint64_t mem_lo, mem_hi = UINT64_MAX, mem_reads, mem_writes, mem_hash = 0xcbf29ce484222325ull;

static void hash_u64(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        mem_hash = (mem_hash ^ (uint8_t)(v >> (8 * i))) * 0x100000001b3ull;
    }
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    (void)vcpu;
    uint64_t pc = (uint64_t)(uintptr_t)udata;
    bool store = qemu_plugin_mem_is_store(info);
    uint64_t size = 1ull << qemu_plugin_mem_size_shift(info);
    if (store) {
        mem_writes++;
    } else {
        mem_reads++;
    }
    hash_u64(pc);
    hash_u64(vaddr);
    hash_u64(size);
    hash_u64(store);
}
static char out_path[4096];
static bool count_blocks = true, count_insns = true, callbacks;

static void on_block(unsigned int vcpu, void *data)
{
    (void)vcpu;
    (void)data;
    blocks++;
}

static void on_insn(unsigned int vcpu, void *data)
{
    (void)vcpu;
    (void)data;
    insns++;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    if (count_blocks) {
        if (callbacks) {
            qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else {
            qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &blocks, 1);
        }
    }
    for (size_t i = 0; count_mem && i < qemu_plugin_tb_n_insns(tb); i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc >= mem_lo && pc < mem_hi) {
            qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW,
                                             (void *)(uintptr_t)pc);
        }
    }
    for (size_t i = 0; count_insns && i < qemu_plugin_tb_n_insns(tb); i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (callbacks) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_insn, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &insns, 1);
        }
    }
}

static void on_exit_(qemu_plugin_id_t id, void *data)
{
    (void)id;
    (void)data;
    FILE *f = fopen(out_path, "w");
    if (f != NULL) {
        fprintf(f, "blocks %" PRIu64 "\ninsns %" PRIu64 "\n", blocks, insns);
        fprintf(f, "mem_reads %" PRIu64 "\nmem_writes %" PRIu64 "\nmem_hash %" PRIu64 "\n", mem_reads,
                mem_writes, mem_hash);
        fclose(f);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else if (strcmp(argv[i], "what=blocks") == 0) {
            count_insns = false;
        } else if (strcmp(argv[i], "what=insns") == 0) {
            count_blocks = false;
        } else if (strcmp(argv[i], "what=mem") == 0) {
            count_blocks = count_insns = false;
            count_mem = true;
        } else if (strncmp(argv[i], "memlo=", 6) == 0) {
            mem_lo = strtoull(argv[i] + 6, NULL, 0);
        } else if (strncmp(argv[i], "memhi=", 6) == 0) {
            mem_hi = strtoull(argv[i] + 6, NULL, 0);
        } else if (strcmp(argv[i], "mode=cb") == 0) {
            callbacks = true;
        } else if (strcmp(argv[i], "what=both") != 0 && strcmp(argv[i], "mode=inline") != 0) {
            fprintf(stderr, "counter: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    if (out_path[0] == '\0') {
        fprintf(stderr, "counter: needs out=FILE\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_, NULL);
    return 0;
}
