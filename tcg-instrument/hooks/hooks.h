/*
 * Shared between the QEMU glue files in this folder.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_HOOKS_H
#define HYPANDA_HOOKS_H

#include "hypanda/tcg-instrument/runtime/runtime.h"

/* Registers the panda-* QMP commands (monitor.c). */
void hypanda_register_qmp_commands(void);

/* The engine running the guest changed (hybrid mode): engine_changed
 * callbacks (control.c). */
void hypanda_engine_changed(CPUState *cpu, int engine);

/* Stops the vCPUs if they run, so the plugin registry may change; returns
 * whether they were running, for hypanda_resume_vcpus (host.c). Main
 * thread, BQL held. */
bool hypanda_pause_vcpus(void);
void hypanda_resume_vcpus(bool were_running);

/* Whether the generated code counts guest instructions (control.c). */
bool hypanda_instr_count_enabled(void);

/* Precise PC (control.c): whether the generated code stores each
 * instruction's PC, and the stored value. */
bool hypanda_precise_pc_enabled(void);
bool hypanda_precise_pc_value(CPUState *cpu, uint64_t *pc);

/* Whether a plugin may write a guest register now (translate.c): not from a
 * memory callback, where the code around the access keeps its own copies
 * of the registers. Elsewhere it may; from before_block_exec and insn_exec
 * this notes the write, so that the guest is resumed to see it. */
bool hypanda_note_register_write(CPUState *cpu);

/* Whether the memory callbacks are on (memory.c; false in linux-user). */
bool hypanda_memcb_on(void);

/* The PC of the instruction being translated (translate.c). */
uint64_t hypanda_translating_insn_pc(void);

/* Reports an access the generated code made (memory.c, from the helpers in
 * translate.c): a store is probed first, so a faulting one is reported only
 * when retried; `retaddr` is the helper's return address for that. */
void hypanda_report_generated_access(void *env, uint64_t pc, uint64_t addr, uint32_t oi,
                                     uint64_t value, bool write, uintptr_t retaddr);

/* Emits direct calls to every enabled callback of `type` (virt_mem_read or
 * virt_mem_write) for an access of the generated code (translate.c). */
void hypanda_gen_direct_mem_calls(panda_cb_type type, TCGv_i64 addr, TCGv_i64 value, uint32_t oi);

/* Makes a store that would fault fault now (memory.c). */
void hypanda_probe_store(void *env, uint64_t addr, uint32_t oi, uintptr_t retaddr);

/* Puts the guest at the start of the instruction at `pc` (cpu_state.c, per
 * target): its PC and, from `insn_data` (the instruction's insn_start
 * word 1), whatever else the translator keeps lazily; HYPANDA_NO_INSN_DATA
 * at a block's start, where nothing is kept. */
#define HYPANDA_NO_INSN_DATA UINT64_MAX
void hypanda_set_instruction_start(CPUState *cpu, uint64_t pc, uint64_t insn_data);

/* Emits code that sets the guest's PC register to `pc`, an address of an
 * instruction of `tb` about to run (cpu_state.c, per target). */
void hypanda_gen_store_guest_pc(TranslationBlock *tb, uint64_t pc);

/* Runs `call` for every enabled callback of `type`, with `pc` as the
 * current PC for panda_current_pc. Inline, so each caller is one loop. Needs runtime.h. */
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

#endif
