/*
 * probe: a test plugin that registers the callbacks named in its `cbs`
 * argument and counts what it sees, so tests can assert exact numbers.
 *
 * Arguments:
 *   cbs=a+b+...   any of bbt (before_block_translate), abt
 *                 (after_block_translate), inv (invalidate-opt), bbe
 *                 (before_block_exec), abe (after_block_exec; with bbe,
 *                 each non-NULL next_tb is checked against the block
 *                 whose before_block_exec comes next), insn (insn
 *                 translate+exec on every instruction), hyp
 *                 (guest_hypercall), rst (cb_cpu_restore_state), eng
 *                 (engine_changed: counts switches to each engine)
 *   at=PC         also count per-PC: blocks starting at PC (bbt/abt/inv/
 *                 bbe/abe), instructions at PC (insn), hypercalls/restores
 *                 whose current PC is PC, and whether panda_current_pc
 *                 agrees in bbe and insn_exec
 *   invalidate=PC invalidate-opt returns true the first time it sees a
 *                 block at PC
 *   insn_add_rax=PC   (with insn) RAX += 1 in insn_exec before each
 *                 instruction at PC
 *   bbe_add_rax=PC    (with bbe) RAX += 1000 in before_block_exec before
 *                 each block starting at PC
 *   add_reg=NAME  the register those two add to instead of RAX
 *   mem_reg_write=1   (with vmem/mem) write RAX (unchanged) from every
 *                 virt_mem_read and count how often that is refused
 *   precise=1     panda_enable_precise_pc() at init
 *   nochain=1     panda_disable_tb_chaining() at init
 *   llvm=1        panda_enable_llvm() at init
 *   llvm_helpers=1  and panda_enable_llvm_helpers() after it
 *   llvm_count=1  only count blocks run in LLVM mode (llvm_blocks, llvm_bbe)
 *   llvm_quiet=1  with llvm=1: no counting, no callback (the benchmarks)
 *   llvm_every=N  turn LLVM mode over (on, off, on, ...) at every N-th
 *                 before_block_exec (a callback of its own); with llvm or
 *                 llvm_every, every block start is counted (llvm_blocks), and
 *                 as llvm_bbe when panda_llvm_enabled() says LLVM mode is on
 *                 (at_llvm_bbe: those at the at= PC)
 *   flush_on_hypercall=1   panda_do_flush_tb() at each magic hypercall
 *   memsave=FILE  panda_memsavep() into FILE at the first magic hypercall
 *   vmem          (in cbs) only the virtual-address memory callbacks
 *   mem           (in cbs) the four memory callbacks, after panda_enable_memcb;
 *                 accesses whose PC is in [memlo, memhi) are counted and
 *                 hashed (FNV-1a over pc, address, size, is-write), their
 *                 physical address compared with the virtual one (the test
 *                 guest maps 1:1), and each read's data compared with RAM
 *   kvm_after=K   (with bbe and at) panda_request_engine(PANDA_ENGINE_KVM)
 *                 at the K-th block starting at PC; the engine then answered
 *                 by panda_current_engine is counted (engine_at_request)
 *   icount=1      panda_enable_instr_count() at init; at every before_block_exec
 *                 check panda_instr_count() against what the probe saw (with
 *                 insn and rst: instructions executed minus those a fault or a
 *                 restore took back), counting checks and mismatches
 *   (with bbe and at, while recording or replaying: rr_at is
 *                 rr_get_guest_instr_count() when the first block at PC
 *                 starts, rr_at_seen whether one did)
 *   output=FILE   where the counts go at uninit, one "name value" a line
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <panda/plugin.h>

#include "output.h"

#define HYPERCALL_MAGIC 0x4879706e

static uint64_t at_pc = UINT64_MAX, invalidate_pc = UINT64_MAX;
static bool flush_on_hypercall;
static char output[4096], memsave[4096];

static uint64_t n_bbt, n_abt, n_inv, n_invalidated, n_bbe, n_abe, n_insn, n_hyp, n_rst;
static uint64_t at_bbt, at_abt, at_inv, at_bbe, at_abe, at_hyp, at_rst;
/* Instructions executed at at_pc, and how many of those (and of the blocks
 * starting there) panda_current_pc also reported as at_pc. */
static uint64_t at_insn, at_insn_current, at_bbe_current;
static uint64_t hyp_magic, hyp_ebx_sum, hyp_ecx_sum;
static bool invalidated_once;
static bool icount_check;
static uint64_t rr_at, rr_at_seen;
static uint64_t icount_checked, icount_mismatch, icount_last;
static uint64_t kvm_after, engine_to_tcg, engine_to_kvm, engine_requests_refused,
    engine_at_request;
static uint64_t mem_lo, mem_hi = UINT64_MAX;
static uint64_t mem_reads, mem_writes, mem_hash = 0xcbf29ce484222325ull, mem_helper, mem_delivery,
    mem_delivery_reads;
static uint64_t mem_phys_reads, mem_phys_writes, mem_phys_mismatch, mem_data_checked,
    mem_data_mismatch;
/* Accesses crossing a page at offset 0xffd (the guest's cross workload):
 * virtual ones of 8 bytes, physical first pieces (3 bytes at 0x...ffd) and
 * second pieces (5 bytes at the next page's start, right after a first). */
static uint64_t cross_virt, cross_first, cross_second;
static bool after_first;

static void hash_u64(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        mem_hash = (mem_hash ^ (uint8_t)(v >> (8 * i))) * 0x100000001b3ull;
    }
}

static uint64_t mem_insn_reads, mem_insn_writes;

static void on_virt(target_ulong pc, target_ulong addr, target_ulong size, bool write)
{
    if (pc < mem_lo || pc >= mem_hi) {
        return;
    }
    /* Delivery accesses are counted apart: QEMU's plugin API, the
     * reference, does not see them. */
    if (panda_mem_access_origin() == PANDA_MEM_BY_DELIVERY) {
        mem_delivery++;
        mem_delivery_reads += !write;
        return;
    }
    cross_virt += size == 8 && (addr & 0xfff) == 0xffd;
    if (write) {
        mem_writes++;
    } else {
        mem_reads++;
    }
    mem_helper += panda_mem_access_origin() == PANDA_MEM_BY_HELPER;
    if (panda_mem_access_origin() == PANDA_MEM_BY_INSN) {
        mem_insn_writes += write;
        mem_insn_reads += !write;
    }
    hash_u64(pc);
    hash_u64(addr);
    hash_u64(size);
    hash_u64(write);
}

/* mem_reg_write=1: try to write RAX from every virt_mem_read; count refusals. */
static bool mem_reg_write;
static uint64_t mem_reg_write_refused, mem_reg_write_accepted;

static int on_virt_read(CPUState *cpu, target_ulong pc, target_ulong addr, target_ulong size, void *buf)
{
    (void)buf;
    if (mem_reg_write) {
        uint64_t rax = 0;
        panda_reg_read(cpu, PANDA_REG_X86_RAX, &rax);
        if (panda_reg_write(cpu, PANDA_REG_X86_RAX, rax) == 0) {
            mem_reg_write_accepted++;
        } else {
            mem_reg_write_refused++;
        }
    }
    on_virt(pc, addr, size, false);
    return 0;
}

static int on_virt_write(CPUState *cpu, target_ulong pc, target_ulong addr, target_ulong size, void *buf)
{
    (void)cpu;
    (void)buf;
    on_virt(pc, addr, size, true);
    return 0;
}

static void on_phys(CPUState *cpu, target_ulong pc, target_ulong addr, target_ulong size, void *buf,
                    bool write)
{
    if (pc < mem_lo || pc >= mem_hi) {
        return;
    }
    uint64_t *n = write ? &mem_phys_writes : &mem_phys_reads;
    (*n)++;
    bool first = size == 3 && (addr & 0xfff) == 0xffd;
    cross_second += after_first && size == 5 && (addr & 0xfff) == 0;
    cross_first += first;
    after_first = first;
    if (panda_virt_to_phys(cpu, addr) != addr) {
        mem_phys_mismatch++;  /* the test guest maps virtual = physical */
    }
    uint8_t ram[8];
    if (!write && size <= 8 && panda_physical_memory_rw(addr, ram, (int)size, 0) == 0) {
        mem_data_checked++;
        mem_data_mismatch += memcmp(ram, buf, size) != 0;
    }
}

static int on_phys_read(CPUState *cpu, target_ulong pc, target_ulong addr, target_ulong size, void *buf)
{
    on_phys(cpu, pc, addr, size, buf, false);
    return 0;
}

static int on_phys_write(CPUState *cpu, target_ulong pc, target_ulong addr, target_ulong size, void *buf)
{
    on_phys(cpu, pc, addr, size, buf, true);
    return 0;
}

static int on_bbt(CPUState *cpu, target_ulong pc)
{
    (void)cpu;
    n_bbt++;
    at_bbt += pc == at_pc;
    return 0;
}

static int on_abt(CPUState *cpu, TranslationBlock *tb)
{
    (void)cpu;
    n_abt++;
    at_abt += panda_tb_pc(tb) == at_pc;
    return 0;
}

static bool on_inv(CPUState *cpu, TranslationBlock *tb)
{
    (void)cpu;
    n_inv++;
    at_inv += panda_tb_pc(tb) == at_pc;
    if (!invalidated_once && panda_tb_pc(tb) == invalidate_pc) {
        invalidated_once = true;
        n_invalidated++;
        return true;
    }
    return false;
}

/* Register writes from exec callbacks: RAX += 1 before each instruction at
 * insn_add_pc, RAX += 1000 before each block starting at bbe_add_pc. */
static uint64_t insn_add_pc = UINT64_MAX, bbe_add_pc = UINT64_MAX;

static int add_reg = PANDA_REG_X86_RAX; /* add_reg=NAME */

static void add_to_rax(CPUState *cpu, uint64_t v)
{
    uint64_t value = 0;
    panda_reg_read(cpu, add_reg, &value);
    panda_reg_write(cpu, add_reg, value + v);
}

/* after_block_exec's next_tb, checked against the block that runs next:
 * only with interrupts off (RFLAGS.IF clear), since otherwise an interrupt
 * may rightly be taken first (the firmware runs with IF set). */
static TranslationBlock *announced_next;
static uint64_t abe_next, abe_next_match, abe_next_mismatch, abe_next_unchecked,
    at_abe_next_self;

static int on_bbe(CPUState *cpu, TranslationBlock *tb)
{
    n_bbe++;
    if (panda_tb_pc(tb) == bbe_add_pc) {
        add_to_rax(cpu, 1000);
    }
    if (panda_tb_pc(tb) == at_pc) {
        at_bbe++;
        at_bbe_current += panda_current_pc(cpu) == at_pc;
        if (!rr_at_seen && (rr_in_record() || rr_in_replay())) {
            rr_at = rr_get_guest_instr_count();
            rr_at_seen = 1;
        }
        if (at_bbe == kvm_after) {
            engine_at_request = (uint64_t)panda_current_engine();
            engine_requests_refused += !panda_request_engine(PANDA_ENGINE_KVM);
        }
    }
    if (icount_check) {
        /* Before this block: every instruction whose insn_exec ran,
         * less the attempts a restore took back. */
        uint64_t count = panda_instr_count(cpu);
        icount_checked++;
        icount_mismatch += count != n_insn - n_rst || count < icount_last;
        icount_last = count;
    }
    if (announced_next != NULL) {
        abe_next_match += tb == announced_next;
        abe_next_mismatch += tb != announced_next;
        announced_next = NULL;
    }
    return 0;
}

static int on_abe(CPUState *cpu, TranslationBlock *tb, TranslationBlock *next)
{
    n_abe++;
    at_abe += panda_tb_pc(tb) == at_pc;
    uint64_t rflags = 0;
    panda_reg_read(cpu, PANDA_REG_X86_RFLAGS, &rflags);
    bool interruptible = (rflags & 0x200) != 0;
    announced_next = interruptible ? NULL : next;
    if (next != NULL) {
        abe_next++;
        abe_next_unchecked += interruptible;
        at_abe_next_self += panda_tb_pc(tb) == at_pc && next == tb;
    }
    return 0;
}

static bool on_insn_translate(CPUState *cpu, target_ulong pc)
{
    (void)cpu;
    (void)pc;
    return true;
}

static int on_insn_exec(CPUState *cpu, target_ulong pc)
{
    n_insn++;
    if (pc == insn_add_pc) {
        add_to_rax(cpu, 1);
    }
    if (pc == at_pc) {
        at_insn++;
        at_insn_current += panda_current_pc(cpu) == at_pc;
    }
    return 0;
}

static int on_hyp(CPUState *cpu)
{
    uint64_t eax = 0, ebx = 0, ecx = 0;
    n_hyp++;
    at_hyp += panda_current_pc(cpu) == at_pc;
    panda_reg_read(cpu, PANDA_REG_X86_RAX, &eax);
    if ((uint32_t)eax != HYPERCALL_MAGIC) {
        return 0;
    }
    panda_reg_read(cpu, PANDA_REG_X86_RBX, &ebx);
    panda_reg_read(cpu, PANDA_REG_X86_RCX, &ecx);
    hyp_magic++;
    hyp_ebx_sum += ebx;
    hyp_ecx_sum += ecx;
    if (memsave[0] != '\0' && hyp_magic == 1) {
        FILE *f = fopen(memsave, "wb");
        if (f != NULL) {
            panda_memsavep(f);
            fclose(f);
        }
    }
    if (flush_on_hypercall) {
        panda_do_flush_tb();
    }
    return 0;
}

static int on_rst(CPUState *cpu, TranslationBlock *tb)
{
    (void)tb;
    n_rst++;
    at_rst += panda_current_pc(cpu) == at_pc;
    return 0;
}

static int on_engine_changed(CPUState *cpu, int engine)
{
    (void)cpu;
    engine_to_tcg += engine == PANDA_ENGINE_TCG;
    engine_to_kvm += engine == PANDA_ENGINE_KVM;
    return 0;
}

static bool has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == list || p[-1] == '+') && (p[n] == '\0' || p[n] == '+')) {
            return true;
        }
    }
    return false;
}

static uint64_t llvm_every, llvm_blocks, llvm_bbe, llvm_requests, at_llvm_bbe;

static int on_llvm_bbe(CPUState *cpu, TranslationBlock *tb)
{
    (void)tb;
    if (panda_llvm_enabled()) {
        llvm_bbe++;
        at_llvm_bbe += panda_current_pc(cpu) == at_pc;
    }
    if (++llvm_blocks % (llvm_every ? llvm_every : UINT64_MAX) == 0) {
        llvm_requests++;
        if (llvm_requests % 2 == 1) {
            panda_enable_llvm();
        } else {
            panda_disable_llvm();
        }
    }
    return 0;
}

bool init_plugin(void *self)
{
    panda_arg_list *args = panda_get_args("probe");
    const char *cbs = panda_parse_string_opt(args, "cbs", "", "callbacks to register");
    at_pc = panda_parse_uint64_opt(args, "at", UINT64_MAX, "PC to count separately");
    invalidate_pc = panda_parse_uint64_opt(args, "invalidate", UINT64_MAX, "block to invalidate once");
    insn_add_pc = panda_parse_uint64_opt(args, "insn_add_rax", UINT64_MAX, "RAX += 1 before this instruction");
    bbe_add_pc = panda_parse_uint64_opt(args, "bbe_add_rax", UINT64_MAX, "RAX += 1000 before this block");
    const char *reg = panda_parse_string_opt(args, "add_reg", "rax", "register the adds go to");
    add_reg = panda_reg_from_name(reg);
    if (add_reg < 0) {
        fprintf(stderr, "probe: add_reg=%s: no such register\n", reg);
        panda_free_args(args);
        return false;
    }
    mem_reg_write = panda_parse_bool_opt(args, "mem_reg_write", "write RAX from virt_mem_read");
    bool precise = panda_parse_bool_opt(args, "precise", "enable precise PC");
    bool nochain = panda_parse_bool_opt(args, "nochain", "disable TB chaining");
    bool llvm = panda_parse_bool_opt(args, "llvm", "enable LLVM mode at init");
    bool llvm_helpers = panda_parse_bool_opt(args, "llvm_helpers", "and the helpers in the JIT");
    llvm_every = panda_parse_uint64_opt(args, "llvm_every", 0, "turn LLVM mode over every N blocks");
    bool llvm_count = panda_parse_bool_opt(args, "llvm_count", "count blocks run in LLVM mode");
    bool llvm_quiet = panda_parse_bool_opt(args, "llvm_quiet", "with llvm: no block counting (benchmarks)");
    flush_on_hypercall = panda_parse_bool_opt(args, "flush_on_hypercall", "flush at each hypercall");
    mem_lo = panda_parse_uint64_opt(args, "memlo", 0, "lowest PC whose accesses count");
    mem_hi = panda_parse_uint64_opt(args, "memhi", UINT64_MAX, "PC above those whose accesses count");
    snprintf(memsave, sizeof memsave, "%s", panda_parse_string_opt(args, "memsave", "", "snapshot file"));
    snprintf(output, sizeof output, "%s", panda_parse_string_opt(args, "output", "", "counts file"));
    kvm_after = panda_parse_uint64_opt(args, "kvm_after", 0, "back to KVM at this block at PC");
    icount_check = panda_parse_bool_opt(args, "icount", "check the instruction count");

    panda_cb cb;
    if (has(cbs, "bbt")) { cb.before_block_translate = on_bbt; panda_register_callback(self, PANDA_CB_BEFORE_BLOCK_TRANSLATE, cb); }
    if (has(cbs, "abt")) { cb.after_block_translate = on_abt; panda_register_callback(self, PANDA_CB_AFTER_BLOCK_TRANSLATE, cb); }
    if (has(cbs, "inv")) { cb.before_block_exec_invalidate_opt = on_inv; panda_register_callback(self, PANDA_CB_BEFORE_BLOCK_EXEC_INVALIDATE_OPT, cb); }
    if (has(cbs, "bbe")) { cb.before_block_exec = on_bbe; panda_register_callback(self, PANDA_CB_BEFORE_BLOCK_EXEC, cb); }
    if (has(cbs, "abe")) { cb.after_block_exec = on_abe; panda_register_callback(self, PANDA_CB_AFTER_BLOCK_EXEC, cb); }
    if (has(cbs, "insn")) {
        cb.insn_translate = on_insn_translate;
        panda_register_callback(self, PANDA_CB_INSN_TRANSLATE, cb);
        cb.insn_exec = on_insn_exec;
        panda_register_callback(self, PANDA_CB_INSN_EXEC, cb);
    }
    if (has(cbs, "hyp")) { cb.guest_hypercall = on_hyp; panda_register_callback(self, PANDA_CB_GUEST_HYPERCALL, cb); }
    if (has(cbs, "eng")) { cb.engine_changed = on_engine_changed; panda_register_callback(self, PANDA_CB_ENGINE_CHANGED, cb); }
    if (has(cbs, "rst")) { cb.cb_cpu_restore_state = on_rst; panda_register_callback(self, PANDA_CB_CPU_RESTORE_STATE, cb); }
    if (has(cbs, "mem") || has(cbs, "vmem")) {
        cb.virt_mem_read = on_virt_read;
        panda_register_callback(self, PANDA_CB_VIRT_MEM_READ, cb);
        cb.virt_mem_write = on_virt_write;
        panda_register_callback(self, PANDA_CB_VIRT_MEM_WRITE, cb);
        panda_enable_memcb();
    }
    if (has(cbs, "mem")) {
        cb.phys_mem_read = on_phys_read;
        panda_register_callback(self, PANDA_CB_PHYS_MEM_READ, cb);
        cb.phys_mem_write = on_phys_write;
        panda_register_callback(self, PANDA_CB_PHYS_MEM_WRITE, cb);
        panda_enable_memcb();
    }
    if ((llvm && !llvm_quiet) || llvm_every != 0 || llvm_count) {
        cb.before_block_exec = on_llvm_bbe;
        panda_register_callback(self, PANDA_CB_BEFORE_BLOCK_EXEC, cb);
    }
    if (llvm) {
        panda_enable_llvm();
    }
    if (llvm_helpers) {
        panda_enable_llvm_helpers();
    }
    panda_free_args(args);
    if (precise) {
        panda_enable_precise_pc();
    }
    if (nochain) {
        panda_disable_tb_chaining();
    }
    if (icount_check) {
        panda_enable_instr_count();
    }
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    FILE *out = test_output_open(output);
    if (out == NULL) {
        return;
    }
    fprintf(out,
            "bbt %" PRIu64 "\nabt %" PRIu64 "\ninv %" PRIu64 "\ninvalidated %" PRIu64 "\nbbe %" PRIu64
            "\nabe %" PRIu64 "\ninsn %" PRIu64 "\nhyp %" PRIu64 "\nrst %" PRIu64 "\n",
            n_bbt, n_abt, n_inv, n_invalidated, n_bbe, n_abe, n_insn, n_hyp, n_rst);
    fprintf(out,
            "at_bbt %" PRIu64 "\nat_abt %" PRIu64 "\nat_inv %" PRIu64 "\nat_bbe %" PRIu64
            "\nat_abe %" PRIu64 "\nat_hyp %" PRIu64 "\nat_rst %" PRIu64 "\n",
            at_bbt, at_abt, at_inv, at_bbe, at_abe, at_hyp, at_rst);
    fprintf(out, "mem_reg_write_refused %" PRIu64 "\nmem_reg_write_accepted %" PRIu64 "\n",
            mem_reg_write_refused, mem_reg_write_accepted);
    fprintf(out, "at_insn %" PRIu64 "\nat_insn_current %" PRIu64 "\nat_bbe_current %" PRIu64 "\n", at_insn,
            at_insn_current, at_bbe_current);
    fprintf(out, "abe_next %" PRIu64 "\nabe_next_match %" PRIu64 "\nabe_next_mismatch %" PRIu64
            "\nabe_next_unchecked %" PRIu64 "\nat_abe_next_self %" PRIu64 "\n", abe_next,
            abe_next_match, abe_next_mismatch, abe_next_unchecked, at_abe_next_self);
    fprintf(out, "hyp_magic %" PRIu64 "\nhyp_ebx_sum %" PRIu64 "\nhyp_ecx_sum %" PRIu64 "\n", hyp_magic,
            hyp_ebx_sum, hyp_ecx_sum);
    fprintf(out,
            "mem_reads %" PRIu64 "\nmem_writes %" PRIu64 "\nmem_hash %" PRIu64 "\nmem_helper %" PRIu64
            "\nmem_delivery %" PRIu64 "\nmem_delivery_reads %" PRIu64
            "\nmem_phys_reads %" PRIu64 "\nmem_phys_writes %" PRIu64 "\nmem_phys_mismatch %" PRIu64
            "\nmem_data_checked %" PRIu64 "\nmem_data_mismatch %" PRIu64 "\n",
            mem_reads, mem_writes, mem_hash, mem_helper, mem_delivery, mem_delivery_reads, mem_phys_reads, mem_phys_writes,
            mem_phys_mismatch, mem_data_checked, mem_data_mismatch);
    fprintf(out, "icount_checked %" PRIu64 "\nicount_mismatch %" PRIu64 "\nicount_end %" PRIu64 "\n",
            icount_checked, icount_mismatch, icount_last);
    fprintf(out, "rr_at %" PRIu64 "\nrr_at_seen %" PRIu64 "\n", rr_at, rr_at_seen);
    fprintf(out, "engine_to_tcg %" PRIu64 "\nengine_to_kvm %" PRIu64 "\nengine_requests_refused %" PRIu64
            "\nengine_at_request %" PRIu64 "\n", engine_to_tcg, engine_to_kvm, engine_requests_refused,
            engine_at_request);
    fprintf(out, "mem_insn_reads %" PRIu64 "\nmem_insn_writes %" PRIu64 "\n", mem_insn_reads, mem_insn_writes);
    fprintf(out, "at_llvm_bbe %" PRIu64 "\n", at_llvm_bbe);
    fprintf(out, "llvm_blocks %" PRIu64 "\nllvm_bbe %" PRIu64 "\nllvm_requests %" PRIu64 "\n", llvm_blocks,
            llvm_bbe, llvm_requests);
    fprintf(out, "cross_virt %" PRIu64 "\ncross_first %" PRIu64 "\ncross_second %" PRIu64 "\n", cross_virt,
            cross_first, cross_second);
    test_output_close(out);
}
