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
 * an op has no translation. */
LLVMModuleRef hypanda_llvm_lift(TCGContext *s, TranslationBlock *tb, LLVMContextRef ctx, const char *name,
                                char *error, size_t error_size);

#endif
