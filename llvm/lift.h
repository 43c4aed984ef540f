/*
 * The lifter (lift.c): a translation block's TCG ops to an LLVM module.
 * Compiled inside QEMU; needs QEMU's TCG headers first.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_LLVM_LIFT_H
#define HYPANDA_LLVM_LIFT_H

#include <llvm-c/Types.h>

/* The ops TCG just generated host code from, as a module with one function
 * `name` (i64 (i8* env)) built in `ctx`; NULL with a reason in `error` when
 * an op has no translation. With `helpers`, calls to helpers whose bitcode
 * the JIT has (jit.h) call those by name; otherwise the emulator's. */
LLVMModuleRef hypanda_llvm_lift(TCGContext *s, TranslationBlock *tb, LLVMContextRef ctx, const char *name,
                                bool helpers, char *error, size_t error_size);

/* Helper calls lifted so far, to the JIT's bitcode and to the emulator. */
void hypanda_llvm_lift_counts(uint64_t *to_jit, uint64_t *to_emulator);

/* engine.c: what an indirect jump (lookup_and_goto_ptr) calls instead of
 * helper_lookup_tb_ptr: the next block's LLVM function, or NULL. */
void *hypanda_llvm_lookup(void *env);

#endif
