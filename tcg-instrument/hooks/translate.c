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
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/exec-all.h"
#include "exec/helper-proto.h"
#include "exec/helper-gen.h"
#include "exec/translator.h"
#include "tcg/tcg-op.h"

#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

/* Runs `call` for every enabled callback of `type`, with `pc` as the
 * current PC for panda_current_pc. Inline, so each helper is one loop. */
#define DISPATCH(type, pc, call)                                            \
    do {                                                                    \
        const HypandaCallbackList *list_ = &hypanda_callbacks[type];        \
        hypanda_cb_pc = (pc);                                               \
        hypanda_cb_pc_valid = true;                                         \
        for (size_t i_ = 0; i_ < list_->count; i_++) {                      \
            const HypandaCallback *c = &list_->entries[i_];                 \
            if (*c->enabled) {                                              \
                call;                                                       \
            }                                                               \
        }                                                                   \
        hypanda_cb_pc_valid = false;                                        \
    } while (0)

/* The block this thread is translating (translation is per vCPU thread). */
static __thread TranslationBlock *translating;
static __thread uint64_t translating_pc;

void hypanda_block_translate_start(CPUState *cpu, TranslationBlock *tb, uint64_t pc)
{
    translating = tb;
    translating_pc = pc;
    DISPATCH(PANDA_CB_BEFORE_BLOCK_TRANSLATE, pc, c->cb.before_block_translate(cpu, pc));
}

void hypanda_block_translate_end(CPUState *cpu, TranslationBlock *tb)
{
    DISPATCH(PANDA_CB_AFTER_BLOCK_TRANSLATE, translating_pc, c->cb.after_block_translate(cpu, tb));
    translating = NULL;
}

void hypanda_gen_block_start(DisasContextBase *db, CPUState *cpu)
{
    if (hypanda_wants(PANDA_CB_BEFORE_BLOCK_EXEC_INVALIDATE_OPT)) {
        gen_helper_panda_invalidate_opt(cpu_env, tcg_constant_ptr(db->tb),
                                        tcg_constant_i64(db->pc_first));
    }
    if (hypanda_wants(PANDA_CB_BEFORE_BLOCK_EXEC)) {
        gen_helper_panda_before_block_exec(cpu_env, tcg_constant_ptr(db->tb),
                                           tcg_constant_i64(db->pc_first));
    }
}

void hypanda_gen_insn_start(DisasContextBase *db, CPUState *cpu)
{
    if (hypanda_precise_pc_enabled()) {
        tcg_gen_st_i64(tcg_constant_i64(db->pc_next), cpu_env,
                       offsetof(ArchCPU, parent_obj.hypanda_guest_pc) - offsetof(ArchCPU, env));
    }
    if (!hypanda_wants(PANDA_CB_INSN_TRANSLATE)) {
        return;
    }
    /* The plugins whose insn_translate said yes: only their insn_exec runs
     * for this instruction. */
    uint64_t plugins = 0;
    DISPATCH(PANDA_CB_INSN_TRANSLATE, db->pc_next,
             plugins |= c->cb.insn_translate(cpu, db->pc_next) ? c->plugin_bit : 0);
    if (plugins != 0 && hypanda_wants(PANDA_CB_INSN_EXEC)) {
        gen_helper_panda_insn_exec(cpu_env, tcg_constant_i64(db->pc_next),
                                   tcg_constant_i64(plugins));
    }
}

void hypanda_gen_block_end(void)
{
    if (translating != NULL && hypanda_wants(PANDA_CB_AFTER_BLOCK_EXEC)) {
        gen_helper_panda_after_block_exec(cpu_env, tcg_constant_ptr(translating),
                                          tcg_constant_i64(translating_pc));
    }
}

void hypanda_cpu_restore_state(CPUState *cpu, TranslationBlock *tb)
{
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

void HELPER(panda_before_block_exec)(void *env, void *tb, uint64_t pc)
{
    CPUState *cpu = env_cpu(env);
    DISPATCH(PANDA_CB_BEFORE_BLOCK_EXEC, pc, c->cb.before_block_exec(cpu, tb));
}

void HELPER(panda_after_block_exec)(void *env, void *tb, uint64_t pc)
{
    CPUState *cpu = env_cpu(env);
    /* With precise PC on, "the current instruction" is the block's last. */
    hypanda_precise_pc_value(cpu, &pc);
    DISPATCH(PANDA_CB_AFTER_BLOCK_EXEC, pc, c->cb.after_block_exec(cpu, tb, NULL));
}

void HELPER(panda_insn_exec)(void *env, uint64_t pc, uint64_t plugins)
{
    CPUState *cpu = env_cpu(env);
    DISPATCH(PANDA_CB_INSN_EXEC, pc, if (c->plugin_bit & plugins) { c->cb.insn_exec(cpu, pc); });
}
