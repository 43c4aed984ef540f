/*
 * Instrumentation emitted into translated code: at the start of a block
 * (before_block_exec) and before an instruction (insn_exec where an
 * insn_translate callback asked for it). Nothing is emitted for a callback
 * kind no plugin registered, so uninstrumented code is QEMU's own; the
 * registry flushes translated code whenever that changes.
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
#include "hypanda/tcg-instrument/runtime/runtime.h"

void hypanda_gen_block_start(DisasContextBase *db, CPUState *cpu)
{
    if (hypanda_wants(PANDA_CB_BEFORE_BLOCK_EXEC)) {
        gen_helper_panda_before_block_exec(cpu_env, tcg_constant_ptr(db->tb),
                                           tcg_constant_i64(db->pc_first));
    }
}

void hypanda_gen_insn_start(DisasContextBase *db, CPUState *cpu)
{
    if (!hypanda_wants(PANDA_CB_INSN_TRANSLATE)) {
        return;
    }
    uint64_t plugins = hypanda_run_insn_translate(cpu, db->pc_next);
    if (plugins != 0 && hypanda_wants(PANDA_CB_INSN_EXEC)) {
        gen_helper_panda_insn_exec(cpu_env, tcg_constant_i64(db->pc_next),
                                   tcg_constant_i64(plugins));
    }
}

void HELPER(panda_before_block_exec)(void *env, void *tb, uint64_t pc)
{
    hypanda_run_before_block_exec(env_cpu(env), tb, pc);
}

void HELPER(panda_insn_exec)(void *env, uint64_t pc, uint64_t plugins)
{
    hypanda_run_insn_exec(env_cpu(env), pc, plugins);
}
