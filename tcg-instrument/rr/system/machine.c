/*
 * Record/replay (state.h): the instruction count, the machine's RAM blocks
 * and RAM hash, the CPU state a snapshot holds, and loading a snapshot into
 * this machine.
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

uint64_t hypanda_rr_count_at(CPUState *cpu, uintptr_t ra)
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

uint64_t hypanda_rr_guest_ram_hash(void)
{
    MemoryRegion *ram = current_machine->ram;
    return XXH64(memory_region_get_ram_ptr(ram), memory_region_size(ram), 0);
}



static int add_block(RAMBlock *rb, void *opaque)
{
    HypandaRrBlockList *list = opaque;
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
bool hypanda_rr_ram_blocks(HypandaRrBlockList *list)
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
GByteArray *hypanda_rr_cpu_state_bytes(CPUState *cpu)
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
bool hypanda_rr_load_snapshot(CPUState *cpu, Error **errp)
{
    const HypandaRrBlock *blocks;
    const size_t n = hypanda_rr_replay_blocks(hypanda_rr.replay, &blocks);
    HypandaRrBlockList list;
    if (!hypanda_rr_ram_blocks(&list)) {
        error_setg(errp, "this machine has more than %zu RAM blocks", ARRAY_SIZE(list.blocks));
        return false;
    }
    if (strcmp(blocks[0].name, qemu_ram_get_idstr(list.blocks[0])) != 0) {
        error_setg(errp, "the recording's guest RAM is \"%s\", this machine's \"%s\"",
                   blocks[0].name, qemu_ram_get_idstr(list.blocks[0]));
        return false;
    }
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
    }
    if (list.count != n) {
        error_setg(errp, "this machine has %zu RAM blocks, the recording's had %zu", list.count, n);
        return false;
    }
    /* Straight into the blocks (no copy of the whole RAM on the side). */
    uint8_t *dst[ARRAY_SIZE(list.blocks)];
    uint64_t sizes[ARRAY_SIZE(list.blocks)];
    for (size_t i = 0; i < n; i++) {
        dst[i] = qemu_ram_get_host_addr(qemu_ram_block_by_name(blocks[i].name));
        sizes[i] = blocks[i].bytes;
    }
    char *err = NULL;
    if (!hypanda_rr_replay_read_ram_blocks(hypanda_rr.replay, dst, sizes, n, &err)) {
        error_setg(errp, "%s", err);
        free(err);
        return false;
    }

    size_t len;
    const uint8_t *state = hypanda_rr_replay_cpu_state(hypanda_rr.replay, &len);
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
