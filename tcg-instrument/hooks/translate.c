/*
 * Instrumentation: the callbacks that run while a block is translated
 * (before/after_block_translate, insn_translate), and the calls emitted
 * into its generated code (before_block_exec_invalidate_opt and
 * before_block_exec at its start, insn_exec and the precise-PC store before
 * an instruction, after_block_exec before each exit to the next block).
 * Nothing is emitted for a callback kind no plugin registered, so
 * uninstrumented code is QEMU's own; the registry flushes translated code
 * whenever that changes.
 *
 * The exec callbacks are called directly from the generated code, one call
 * per registered callback of an enabled plugin (enabling or disabling a
 * plugin retranslates, so it takes effect from the next block).
 * Translated code that names a plugin never runs after the plugin is
 * unloaded: unloading flushes it before any vCPU runs again.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/exec-all.h"
#include "tcg/tcg-op.h"
#include "exec/helper-proto.h"
#include "exec/helper-gen.h"
#include "exec/translator.h"

#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/rr/hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"


#define CPU_FIELD(f) (offsetof(ArchCPU, parent_obj.f) - offsetof(ArchCPU, env))

/* Points the call op just emitted (through a panda_call_* helper with the
 * same arguments) at `fn`, as QEMU's own plugin code generator does. */
static void retarget_last_call(void *fn)
{
    TCGOp *op = tcg_last_op();
    g_assert(op->opc == INDEX_op_call);
    op->args[TCGOP_CALLO(op) + TCGOP_CALLI(op)] = (uintptr_t)fn;
}

static TCGv_ptr gen_cpu_pointer(void)
{
    TCGv_ptr cpu = tcg_temp_new_ptr();
    tcg_gen_addi_ptr(cpu, cpu_env, offsetof(ArchCPU, parent_obj) - offsetof(ArchCPU, env));
    return cpu;
}

/* Makes the guest's own PC register `pc` before calls made where it is
 * exactly that (a block's or an instruction's start), for panda_current_pc:
 * one store. With precise PC on, panda_current_pc reads the precise value,
 * so that is the one stored. */
static void gen_current_pc(TranslationBlock *tb, uint64_t pc)
{
    if (hypanda_precise_pc_enabled()) {
        tcg_gen_st_i64(tcg_constant_i64(pc), cpu_env, CPU_FIELD(hypanda_guest_pc));
    } else {
        hypanda_gen_store_guest_pc(tb, pc);
    }
}

/* Sets (or clears) the PC panda_current_pc reports during calls made where
 * the guest's PC is not the one to report (after_block_exec). */
static void gen_callback_pc(uint64_t pc, bool valid)
{
    if (valid) {
        tcg_gen_st_i64(tcg_constant_i64(pc), cpu_env, CPU_FIELD(hypanda_cb_pc));
    }
    tcg_gen_st_i32(tcg_constant_i32(valid), cpu_env, CPU_FIELD(hypanda_cb_pc_valid));
}

/* Emits the call to c's callback through `emit`, which emits it with the
 * right helper prototype; nothing for a disabled plugin. Whether a plugin
 * is enabled is decided here, at translation time: enabling or disabling
 * one flushes translated code (registry.cc), so it takes effect from the
 * next block on, and the generated code has no test to pay for. */
static void gen_plugin_call(const HypandaCallback *c,
                            void (*emit)(TCGv_ptr cpu, void *a, TCGv_ptr b), void *a, TCGv_ptr b)
{
    if (!*c->enabled) {
        return;
    }
    TCGv_ptr cpu = gen_cpu_pointer();
    emit(cpu, a, b);
    tcg_temp_free_ptr(cpu);
    retarget_last_call(c->cb.cbaddr);
}

static void emit_ptr_ptr_ptr(TCGv_ptr cpu, void *a, TCGv_ptr b)
{
    gen_helper_panda_call_ptr_ptr_ptr(cpu, tcg_constant_ptr(a), b);
}

/* The block this thread is translating (translation is per vCPU thread),
 * and the instruction. */
static __thread TranslationBlock *translating;
static __thread uint64_t translating_pc;
static __thread uint64_t translating_insn_pc;

uint64_t hypanda_translating_insn_pc(void)
{
    return translating_insn_pc;
}

/* A check emitted after the direct calls to a block's before_block_exec
 * or an instruction's insn_exec callbacks branches here when one of them
 * wrote a guest register; the code for it goes after the block's last exit
 * (see gen_restart_stubs). */
typedef struct RestartStub {
    TCGLabel *label;
    uint64_t pc;        /* the block's or the instruction's */
    uint64_t insn_data; /* its insn_start word 1 (x86: cc_op); HYPANDA_NO_INSN_DATA for a block */
    int insn_number;    /* the instruction's, from 1; 0 for the block */
} RestartStub;

#define MAX_RESTART_STUBS 2048
static __thread RestartStub restart_stubs[MAX_RESTART_STUBS];
static __thread int n_restart_stubs;

/* The instruction count (control.c): each block adds its length at its
 * start, after the exit-request check and its before_block_exec callbacks;
 * the length is known once the block is translated, so the add is emitted
 * with 0 and patched then (as QEMU's gen_tb_start does for icount). Blocks
 * left early take back what did not run (hypanda_cpu_restore_state,
 * panda_restart). */
static __thread TCGOp *count_add_op;
static __thread TCGOp *limit_add_op;

void hypanda_block_translate_start(CPUState *cpu, TranslationBlock *tb, uint64_t pc)
{
    translating = tb;
    translating_pc = pc;
    n_restart_stubs = 0;
    DISPATCH(PANDA_CB_BEFORE_BLOCK_TRANSLATE, pc, c->cb.before_block_translate(cpu, pc));
}

static void gen_restart_check(uint64_t pc, uint64_t insn_data, int insn_number);
static void gen_restart_stubs(const TranslationBlock *tb);

void hypanda_block_translate_end(CPUState *cpu, TranslationBlock *tb)
{
    translating = NULL;
    if (count_add_op != NULL) {
        tcg_set_insn_param(count_add_op, 2, tcgv_i64_arg(tcg_constant_i64(tb->icount)));
        count_add_op = NULL;
    }
    if (limit_add_op != NULL) {
        tcg_set_insn_param(limit_add_op, 2, tcgv_i64_arg(tcg_constant_i64(tb->icount)));
        limit_add_op = NULL;
    }
    gen_restart_stubs(tb);
    DISPATCH(PANDA_CB_AFTER_BLOCK_TRANSLATE, translating_pc, c->cb.after_block_translate(cpu, tb));
}

/* Blocks translated to resume after a plugin wrote a register in a
 * before_block_exec or insn_exec callback (see HELPER(panda_restart)). Their
 * own cflags keep them apart from ordinary blocks in QEMU's caches. */
#define CF_HYPANDA_NO_BLOCK_START 0x00200000 /* no invalidate-opt, no before_block_exec */
#define CF_HYPANDA_BARE 0x00400000           /* one instruction, no exec callbacks */
QEMU_BUILD_BUG_ON((CF_HYPANDA_NO_BLOCK_START | CF_HYPANDA_BARE) &
                  (CF_COUNT_MASK | CF_NO_GOTO_TB | CF_NO_GOTO_PTR | CF_SINGLE_STEP | CF_LAST_IO |
                   CF_MEMI_ONLY | CF_USE_ICOUNT | CF_INVALID | CF_PARALLEL | CF_NOIRQ |
                   CF_CLUSTER_MASK));

/* The count's add; in replay with `check_limit` also the limit check
 * (below), on the sum just stored: a block leaving there has counted
 * itself, which hypanda_rr_limit_exit takes back. */
static void gen_count_start(bool check_limit)
{
    TCGv_i64 n = tcg_temp_new_i64();
    tcg_gen_ld_i64(n, cpu_env, CPU_FIELD(hypanda_icount));
    tcg_gen_add_i64(n, n, tcg_constant_i64(0));
    count_add_op = tcg_last_op();
    tcg_gen_st_i64(n, cpu_env, CPU_FIELD(hypanda_icount));
    if (check_limit) {
        TCGv_i64 limit = tcg_temp_new_i64();
        tcg_gen_ld_i64(limit, cpu_env, CPU_FIELD(hypanda_rr_limit));
        tcg_gen_brcond_i64(TCG_COND_GTU, n, limit, tcg_ctx->exitreq_label);
        tcg_temp_free_i64(limit);
    }
    tcg_temp_free_i64(n);
}

/* Replay (rr/system/replay.c): a block that would run past the instruction where the
 * next interrupt or the end is due leaves at once, through QEMU's
 * exit-request path, and the vCPU loop makes a block that ends there. With
 * block-start callbacks the check comes before them, so that they run once
 * for the block that does run; without, it joins the count's add. */
static void gen_replay_limit_check(void)
{
    TCGv_i64 n = tcg_temp_new_i64();
    TCGv_i64 limit = tcg_temp_new_i64();
    tcg_gen_ld_i64(n, cpu_env, CPU_FIELD(hypanda_icount));
    tcg_gen_add_i64(n, n, tcg_constant_i64(0));
    limit_add_op = tcg_last_op();
    tcg_gen_ld_i64(limit, cpu_env, CPU_FIELD(hypanda_rr_limit));
    tcg_gen_brcond_i64(TCG_COND_GTU, n, limit, tcg_ctx->exitreq_label);
    tcg_temp_free_i64(n);
    tcg_temp_free_i64(limit);
}

static bool block_start_callbacks_wanted(const TranslationBlock *tb)
{
    return !(tb_cflags(tb) & (CF_HYPANDA_NO_BLOCK_START | CF_HYPANDA_BARE)) &&
           (hypanda_wants(PANDA_CB_BEFORE_BLOCK_EXEC_INVALIDATE_OPT) ||
            hypanda_wants(PANDA_CB_BEFORE_BLOCK_EXEC));
}

static void gen_block_start_callbacks(DisasContextBase *db);

void hypanda_gen_block_start(DisasContextBase *db, CPUState *cpu)
{
    count_add_op = NULL;
    limit_add_op = NULL;
    const bool callbacks = block_start_callbacks_wanted(db->tb);
    /* (Blocks without an exit-request check, CF_NOIRQ, run one instruction
     * that must complete: they are not checked either.) */
    const bool check_limit = hypanda_instr_count_enabled() && hypanda_rr_replaying() &&
                             tcg_ctx->exitreq_label != NULL;
    if (check_limit && callbacks) {
        gen_replay_limit_check();
    }
    if (callbacks) {
        gen_block_start_callbacks(db);
    }
    if (hypanda_instr_count_enabled()) {
        gen_count_start(check_limit && !callbacks);
    }
}

static void gen_block_start_callbacks(DisasContextBase *db)
{
    if (hypanda_wants(PANDA_CB_BEFORE_BLOCK_EXEC_INVALIDATE_OPT)) {
        gen_helper_panda_invalidate_opt(cpu_env, tcg_constant_ptr(db->tb),
                                        tcg_constant_i64(db->pc_first));
    }
    if (hypanda_wants(PANDA_CB_BEFORE_BLOCK_EXEC)) {
        const HypandaCallbackList *list = &hypanda_callbacks[PANDA_CB_BEFORE_BLOCK_EXEC];
        gen_current_pc(db->tb, db->pc_first);
        bool called = false;
        for (size_t i = 0; i < list->count; i++) {
            const HypandaCallback *c = &list->entries[i];
            if (*c->enabled) {
                TCGv_ptr cpu_ptr = gen_cpu_pointer();
                gen_helper_panda_call_nowg_ptr_ptr(cpu_ptr, tcg_constant_ptr(db->tb));
                tcg_temp_free_ptr(cpu_ptr);
                retarget_last_call(c->cb.cbaddr);
                called = true;
            }
        }
        if (called) {
            gen_restart_check(db->pc_first, HYPANDA_NO_INSN_DATA, 0);
        }
    }
}

void hypanda_gen_insn_start(DisasContextBase *db, CPUState *cpu)
{
    /* The instruction's insn_start words, for a restart (x86: its cc_op). */
    TCGOp *start = tcg_last_op();
    g_assert(start->opc == INDEX_op_insn_start);
    const uint64_t insn_data = start->args[1];
    translating_insn_pc = db->pc_next;
    if (hypanda_precise_pc_enabled()) {
        tcg_gen_st_i64(tcg_constant_i64(db->pc_next), cpu_env, CPU_FIELD(hypanda_guest_pc));
    }
    if (!hypanda_wants(PANDA_CB_INSN_TRANSLATE) || (tb_cflags(db->tb) & CF_HYPANDA_BARE)) {
        return;
    }
    /* The plugins whose insn_translate said yes: only their insn_exec runs
     * for this instruction. */
    uint64_t plugins = 0;
    DISPATCH(PANDA_CB_INSN_TRANSLATE, db->pc_next,
             plugins |= c->cb.insn_translate(cpu, db->pc_next) ? c->plugin_bit : 0);
    if (plugins != 0 && hypanda_wants(PANDA_CB_INSN_EXEC)) {
        const HypandaCallbackList *list = &hypanda_callbacks[PANDA_CB_INSN_EXEC];
        if (!hypanda_precise_pc_enabled()) {
            /* (With precise PC on, the store above already did this.) */
            gen_current_pc(db->tb, db->pc_next);
        }
        bool called = false;
        for (size_t i = 0; i < list->count; i++) {
            const HypandaCallback *c = &list->entries[i];
            if ((c->plugin_bit & plugins) && *c->enabled) {
                TCGv_ptr cpu_ptr = gen_cpu_pointer();
                gen_helper_panda_call_nowg_ptr_i64(cpu_ptr, tcg_constant_i64(db->pc_next));
                tcg_temp_free_ptr(cpu_ptr);
                retarget_last_call(c->cb.cbaddr);
                called = true;
            }
        }
        if (called) {
            gen_restart_check(db->pc_next, insn_data, db->num_insns);
        }
    }
}

/* The block a block exit goes to, as far as it is known when the exit runs
 * (NULL when it is not): a chained jump's destination is in the TB's
 * jmp_dest[] once linked (the low bit is a lock tag); an indirect jump's
 * is looked up as QEMU's own lookup will; the main loop may deliver an
 * interrupt first, so there it is unknown. */
static TCGv_ptr gen_next_tb(TranslationBlock *tb, int exit)
{
    /* A local temp: it lives across the calls. */
    TCGv_ptr next = tcg_temp_local_new_ptr();
    if (exit >= 0) {
        QEMU_BUILD_BUG_ON(sizeof(void *) != sizeof(uint64_t));
        tcg_gen_ld_ptr(next, tcg_constant_ptr(&tb->jmp_dest[exit]), 0);
        tcg_gen_andi_i64((TCGv_i64)next, (TCGv_i64)next, ~(uint64_t)1);
    } else if (exit == HYPANDA_EXIT_BY_LOOKUP) {
        gen_helper_panda_next_tb(next, cpu_env);
    } else {
        tcg_gen_mov_ptr(next, tcg_constant_ptr(NULL));
    }
    return next;
}

void hypanda_gen_block_end(int exit)
{
    if (translating == NULL || !hypanda_wants(PANDA_CB_AFTER_BLOCK_EXEC) ||
        (tb_cflags(translating) & CF_HYPANDA_BARE)) {
        return;
    }
    const HypandaCallbackList *list = &hypanda_callbacks[PANDA_CB_AFTER_BLOCK_EXEC];
    /* With precise PC on, "the current instruction" is the block's last,
     * which panda_current_pc then reports. */
    bool block_pc = !hypanda_precise_pc_enabled();
    TCGv_ptr next = gen_next_tb(translating, exit);
    if (block_pc) {
        gen_callback_pc(translating_pc, true);
    }
    for (size_t i = 0; i < list->count; i++) {
        gen_plugin_call(&list->entries[i], emit_ptr_ptr_ptr, translating, next);
    }
    if (block_pc) {
        gen_callback_pc(0, false);
    }
    tcg_temp_free_ptr(next);
}

void hypanda_cpu_restore_state(CPUState *cpu, TranslationBlock *tb, int insns_left)
{
    if (hypanda_instr_count_enabled()) {
        cpu->hypanda_icount -= insns_left;
    }
    if (hypanda_wants(PANDA_CB_CPU_RESTORE_STATE)) {
        uint64_t pc = panda_current_pc(cpu);
        DISPATCH(PANDA_CB_CPU_RESTORE_STATE, pc, c->cb.cb_cpu_restore_state(cpu, tb));
    }
}

void hypanda_guest_hypercall(CPUState *cpu)
{
    if (hypanda_wants(PANDA_CB_GUEST_HYPERCALL)) {
        uint64_t pc = panda_current_pc(cpu);
        DISPATCH(PANDA_CB_GUEST_HYPERCALL, pc, c->cb.guest_hypercall(cpu));
    }
}

/* At the start of the block, the guest state is exactly the block's entry
 * state, so leaving for the main loop here loses nothing: the block is
 * looked up again, found invalid, and translated anew. */
void HELPER(panda_invalidate_opt)(void *env, void *tb, uint64_t pc)
{
    CPUState *cpu = env_cpu(env);
    bool invalidate = false;
    DISPATCH(PANDA_CB_BEFORE_BLOCK_EXEC_INVALIDATE_OPT, pc,
             invalidate |= c->cb.before_block_exec_invalidate_opt(cpu, tb));
    if (invalidate) {
        tb_phys_invalidate(tb, -1);
        cpu_loop_exit_noexc(cpu);
    }
}

/*
 * Register writes from before_block_exec and insn_exec. These callbacks are
 * called directly with TCG_CALL_NO_WG: TCG writes the guest registers it
 * holds back to CPUArchState before the call, so callbacks read them
 * right, but keeps using its own copies afterwards, which is what makes
 * them cheap. A write (panda_reg_write sets hypanda_regs_written) would be
 * lost, so the calls for a block or an instruction are followed by one test
 * of that flag; when set, a stub after the block's last exit calls
 * panda_restart, which puts the guest back at the start of this
 * instruction (or block) and resumes there in a block made for the
 * purpose: for insn_exec the instruction alone with no exec callbacks (they
 * have all run: a callback after the writer reads the written value, as
 * TCG writes nothing back between the calls), for before_block_exec the
 * block without its start callbacks. The guest sees the written registers;
 * every callback runs once. The test costs a load and a branch, on which
 * TCG keeps its copies.
 */
bool hypanda_note_register_write(CPUState *cpu)
{
    if (cpu->hypanda_in_mem_cb) {
        return false;
    }
    /* Callbacks run from C (DISPATCH: hypercall, restore, translation,
     * monitor, ...) are called where TCG holds no register copies. */
    if (!hypanda_cb_pc_valid) {
        cpu->hypanda_regs_written = 1;
    }
    return true;
}

static void gen_restart_check(uint64_t pc, uint64_t insn_data, int insn_number)
{
    g_assert(n_restart_stubs < MAX_RESTART_STUBS); /* blocks have at most 512 instructions */
    RestartStub *stub = &restart_stubs[n_restart_stubs++];
    *stub = (RestartStub){gen_new_label(), pc, insn_data, insn_number};
    TCGv_i32 written = tcg_temp_new_i32();
    tcg_gen_ld_i32(written, cpu_env, CPU_FIELD(hypanda_regs_written));
    tcg_gen_brcondi_i32(TCG_COND_NE, written, 0, stub->label);
    tcg_temp_free_i32(written);
}

static void gen_restart_stubs(const TranslationBlock *tb)
{
    if (n_restart_stubs == 0) {
        return;
    }
    for (int i = 0; i < n_restart_stubs; i++) {
        const RestartStub *stub = &restart_stubs[i];
        /* Counted at the block's start but not run: from this instruction
         * on (a block restart comes before the count). */
        const int not_run = stub->insn_number == 0 ? 0 : tb->icount - (stub->insn_number - 1);
        gen_set_label(stub->label);
        gen_helper_panda_restart(cpu_env, tcg_constant_i64(stub->pc), tcg_constant_i64(stub->insn_data),
                                 tcg_constant_i64(not_run));
    }
    n_restart_stubs = 0;
    tcg_gen_exit_tb(NULL, 0); /* not reached: panda_restart does not return */
}

void HELPER(panda_restart)(void *env, uint64_t pc, uint64_t insn_data, uint64_t not_run)
{
    CPUState *cpu = env_cpu(env);
    const bool block_start = insn_data == HYPANDA_NO_INSN_DATA;
    cpu->hypanda_regs_written = 0;
    if (hypanda_instr_count_enabled()) {
        cpu->hypanda_icount -= not_run;
    }
    hypanda_set_instruction_start(cpu, pc, insn_data);
    cpu->cflags_next_tb = curr_cflags(cpu) | CF_NOIRQ |
                          (block_start ? CF_HYPANDA_NO_BLOCK_START : CF_HYPANDA_BARE | 1);
    cpu_loop_exit(cpu);
}

/* The virtual-address memory callbacks called straight from the generated
 * code (memory.c decides when): the access's bytes go to a CPUState field
 * the callback gets a pointer to, and a CPUState flag says a memory
 * callback runs (panda_reg_write refuses then). */
void hypanda_gen_direct_mem_calls(panda_cb_type type, TCGv_i64 addr, TCGv_i64 value, uint32_t oi)
{
    const HypandaCallbackList *list = &hypanda_callbacks[type];
    const uint64_t size = memop_size(get_memop(oi));
    tcg_gen_st_i64(value, cpu_env, CPU_FIELD(hypanda_mem_bytes));
    tcg_gen_st_i32(tcg_constant_i32(1), cpu_env, CPU_FIELD(hypanda_in_mem_cb));
    for (size_t i = 0; i < list->count; i++) {
        const HypandaCallback *c = &list->entries[i];
        if (!*c->enabled) {
            continue;
        }
        TCGv_ptr cpu_ptr = gen_cpu_pointer();
        TCGv_ptr bytes = tcg_temp_new_ptr();
        tcg_gen_addi_ptr(bytes, cpu_env, CPU_FIELD(hypanda_mem_bytes));
        gen_helper_panda_call_nowg_mem(cpu_ptr, tcg_constant_i64(translating_insn_pc), addr,
                                       tcg_constant_i64(size), bytes);
        tcg_temp_free_ptr(bytes);
        tcg_temp_free_ptr(cpu_ptr);
        retarget_last_call(c->cb.cbaddr);
    }
    tcg_gen_st_i32(tcg_constant_i32(0), cpu_env, CPU_FIELD(hypanda_in_mem_cb));
}

void HELPER(panda_mem_probe_store)(void *env, uint64_t addr, uint32_t oi)
{
    hypanda_probe_store(env, addr, oi, GETPC());
}

/* The memory callbacks for the generated code's own loads and stores
 * (memory.c emits the calls). TCG_CALL_NO_WG: callbacks read registers
 * (written back before the call); they may not write them. */
void HELPER(panda_mem_load)(void *env, uint64_t addr, uint64_t value, uint32_t oi, uint64_t pc)
{
    hypanda_report_generated_access(env, pc, addr, oi, value, false, GETPC());
}

void HELPER(panda_mem_store)(void *env, uint64_t addr, uint64_t value, uint32_t oi, uint64_t pc)
{
    hypanda_report_generated_access(env, pc, addr, oi, value, true, GETPC());
}

void *HELPER(panda_next_tb)(void *env)
{
    return hypanda_lookup_next_tb(env_cpu(env));
}

/* Prototypes only (see helpers.h): every call emitted through them is
 * pointed at a plugin's callback before the code is generated. */
void HELPER(panda_call_nowg_ptr_ptr)(void *cpu, void *a)
{
    g_assert_not_reached();
}

void HELPER(panda_call_nowg_ptr_i64)(void *cpu, uint64_t a)
{
    g_assert_not_reached();
}

void HELPER(panda_call_nowg_mem)(void *cpu, uint64_t pc, uint64_t addr, uint64_t size, void *bytes)
{
    g_assert_not_reached();
}

void HELPER(panda_call_ptr_ptr_ptr)(void *cpu, void *a, void *b)
{
    g_assert_not_reached();
}
