/*
 * The LLVM engine's JIT (jit.cc, C++ without QEMU headers), for the C code
 * inside QEMU: one LLVM context for every lifted block, each block's module
 * optimised and compiled to executable memory, all of it dropped at once
 * when QEMU flushes its translated code.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_LLVM_JIT_H
#define HYPANDA_LLVM_JIT_H

#include <stdbool.h>
#include <stddef.h>

#include <llvm-c/Types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts LLVM's JIT once; false, with a reason in `error`, if it cannot. */
bool hypanda_jit_init(char *error, size_t error_size);

/* The context modules are built in. Building and compiling hold the lock. */
LLVMContextRef hypanda_jit_context(void);
void hypanda_jit_lock(void);
void hypanda_jit_unlock(void);


/* The passes plugins added (panda_llvm_add_function_pass): run on each
 * block's function after the engine's own optimisation, and on each helper
 * function before it is compiled. Setting them reloads the helpers (call
 * with translated code flushed). */
typedef void (*HypandaJitFunctionPass)(LLVMValueRef function, void *opaque);
void hypanda_jit_set_function_passes(const HypandaJitFunctionPass *passes, void *const *opaques, size_t count);

/* The JIT itself (an llvm::orc::LLJIT), for llvm_init. */
void *hypanda_jit_engine(void);

/* Optimises and compiles `module` (taken over) and returns the address of
 * its function `name`; NULL, with a reason in `error`, if it cannot. */
void *hypanda_jit_compile(LLVMModuleRef module, const char *name, char *error, size_t error_size);

/* Where compile time goes: the engine's optimisation and plugins' passes,
 * and LLVM's code generation and linking; the arena's bytes in use. */
typedef struct HypandaJitTimes {
    uint64_t optimize_ns;
    uint64_t compile_ns;
    uint64_t code_bytes;
} HypandaJitTimes;
void hypanda_jit_times(HypandaJitTimes *out);

/* Loads the helpers' bitcode (llvm/build-helpers) into the JIT, linked to
 * the emulator's own globals; each function is compiled when first called.
 * Says how many helper_* functions are in the JIT and how many functions
 * stay the emulator's (they touch thread-local state, or need one that
 * does). False, with a reason, if the file cannot be used. */
bool hypanda_jit_load_helpers(const char *path, char *error, size_t error_size, size_t *in_jit, size_t *native);

/* Blocks call helpers by name: the emulator's function `address` is what
 * `symbol` means unless the helpers' bitcode is in use and has it. Called
 * with the lock held (by the lifter). */
void hypanda_jit_native(const char *symbol, const void *address);

/* Whether blocks compiled from now on call the helpers' bitcode. */
void hypanda_jit_use_helpers(bool on);

/* Whether the helper `symbol` (helper_...) runs in the JIT. */
bool hypanda_jit_helper_in_jit(const char *symbol);

/* True when three quarters of the code arena are used: time to flush. */
bool hypanda_jit_nearly_full(void);

/* Frees every compiled block (QEMU's translation cache was flushed). */
void hypanda_jit_drop_all(void);

#ifdef __cplusplus
}
#endif

#endif
