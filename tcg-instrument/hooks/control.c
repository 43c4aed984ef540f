/*
 * The SDK's runtime control of the emulator: flushing translated code,
 * translation-block chaining and precise PC.
 * Every switch that changes how code is translated flushes the translated
 * code itself, so plugins need not (the PANDA manual's warning about
 * flushing before changing translation is handled here).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "exec/exec-all.h"
#include "hw/core/cpu.h"
#include "sysemu/tcg.h"

#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/rr/hooks.h"
#include "hypanda/tcg-instrument/runtime/host.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

static bool precise_pc;
static bool chaining_disabled;

/* The memory callbacks need each access's PC, so they turn the PC stores
 * on too. */
bool hypanda_precise_pc_enabled(void)
{
    return precise_pc || hypanda_memcb_on();
}

bool hypanda_precise_pc_value(CPUState *cpu, uint64_t *pc)
{
    if (!hypanda_precise_pc_enabled()) {
        return false;
    }
    *pc = cpu->hypanda_guest_pc;
    return true;
}

/* The instruction count (translate.c emits it): off until asked for, so
 * plain runs pay nothing; turning it on retranslates. It only grows: once
 * on it stays on, so counts never go stale. */
static bool instr_count;

/* Record/replay's state (rr/hooks.h; rr/system/ in the system emulator). */
int hypanda_rr_mode;
uint64_t hypanda_rr_base;

bool hypanda_instr_count_enabled(void)
{
    return instr_count;
}

void panda_enable_instr_count(void)
{
    if (!instr_count) {
        instr_count = true;
        hypanda_host_flush_translations();
    }
}

uint64_t panda_instr_count(CPUState *cpu)
{
    return instr_count ? cpu->hypanda_icount : 0;
}

bool rr_in_record(void)
{
    return hypanda_rr_mode == HYPANDA_RR_RECORDING;
}

bool rr_in_replay(void)
{
    return hypanda_rr_mode == HYPANDA_RR_REPLAYING;
}

uint64_t rr_get_guest_instr_count(void)
{
    if (hypanda_rr_mode == HYPANDA_RR_OFF || first_cpu == NULL) {
        return 0;
    }
    return first_cpu->hypanda_icount - hypanda_rr_base;
}

void panda_do_flush_tb(void)
{
    hypanda_host_flush_translations();
}

void panda_enable_precise_pc(void)
{
    if (!precise_pc) {
        precise_pc = true;
        hypanda_host_flush_translations();
    }
}

void panda_disable_precise_pc(void)
{
    if (precise_pc) {
        precise_pc = false;
        hypanda_host_flush_translations();
    }
}

static void set_chaining(bool enabled)
{
    CPUState *cpu;
    if (chaining_disabled == !enabled) {
        return;
    }
    chaining_disabled = !enabled;
    CPU_FOREACH(cpu) {
        if (enabled) {
            cpu->tcg_cflags &= ~(CF_NO_GOTO_TB | CF_NO_GOTO_PTR);
        } else {
            cpu->tcg_cflags |= CF_NO_GOTO_TB | CF_NO_GOTO_PTR;
        }
    }
    hypanda_host_flush_translations();
}

void panda_enable_tb_chaining(void)
{
    set_chaining(true);
}

void panda_disable_tb_chaining(void)
{
    set_chaining(false);
}

void hypanda_engine_changed(CPUState *cpu, int engine)
{
    if (hypanda_wants(PANDA_CB_ENGINE_CHANGED)) {
        DISPATCH(PANDA_CB_ENGINE_CHANGED, 0, c->cb.engine_changed(cpu, engine));
    }
}
