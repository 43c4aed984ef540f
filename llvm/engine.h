/*
 * The LLVM engine's controls inside QEMU (engine.c), for the SDK, the
 * monitor and the hypercall. QEMU's call sites are in
 * tcg-instrument/qemu_hooks.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_LLVM_ENGINE_H
#define HYPANDA_LLVM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

/* Turns LLVM mode on or off: from guest code (a callback) after the current
 * block, otherwise at once (before the guest runs, or with it paused). */
void hypanda_llvm_request(bool on);

/* The same from a thread that is not a vCPU while the guest may run (the
 * monitor): queued to the first vCPU's next safe point. */
void hypanda_llvm_request_async(bool on);

bool hypanda_llvm_enabled(void);

/* What a block's function returns to have hypanda_llvm_exec run another
 * block next: that block's TranslationBlock pointer | HYPANDA_LLVM_CHAIN,
 * an exit code TCG does not use (TB_EXIT_IDX0/1 are 0 and 1, TB_EXIT_
 * REQUESTED 3). */
#define HYPANDA_LLVM_CHAIN 2

/* The process is ending: HYPANDA_LLVM_STATS's report, if asked for, once
 * (from atexit, and from linux-user's exit_group, which ends in _exit). */
void hypanda_llvm_exiting(void);

/* The helpers in the JIT (panda_enable_llvm_helpers), likewise. */
void hypanda_llvm_request_helpers(bool on);
bool hypanda_llvm_helpers_enabled(void);

/* A plugin is being unloaded: its passes go (tcg-instrument/hooks/host.c). */
void hypanda_llvm_plugin_unloading(void *handle);

typedef struct HypandaLlvmStats {
    uint64_t blocks;        /* blocks lifted and compiled */
    uint64_t translate_ns;  /* time spent lifting, optimising, compiling */
    uint64_t failures;      /* blocks that could not be lifted */
    uint64_t flushes;       /* translation-cache flushes that dropped code */
    uint64_t switches;      /* times the mode changed */
    uint64_t optimize_ns;   /* of translate_ns: the optimisation passes */
    uint64_t compile_ns;    /* of translate_ns: LLVM's code generation */
    uint64_t code_bytes;    /* compiled code and data now held */
    uint64_t helpers_in_jit;   /* helper_* functions whose bitcode is used */
    uint64_t functions_native; /* bitcode functions left to the emulator */
    uint64_t calls_to_jit;      /* helper calls lifted to the JIT's bitcode */
    uint64_t calls_to_emulator; /* helper calls lifted to the emulator's code */
} HypandaLlvmStats;

void hypanda_llvm_stats(HypandaLlvmStats *out);

#endif
