/*
 * The functions QEMU's patched sources call into Hypanda. Every call site
 * the patch series adds to QEMU goes through a declaration in this file, so
 * the patches stay call sites and the logic stays in the Hypanda tree.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_TCG_INSTRUMENT_QEMU_HOOKS_H
#define HYPANDA_TCG_INSTRUMENT_QEMU_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CPUState CPUState;
typedef struct Monitor Monitor;
typedef struct QDict QDict;
typedef struct TranslationBlock TranslationBlock;
typedef struct TCGContext TCGContext;
typedef struct TCGv_i32_d *TCGv_i32;
typedef struct TCGv_i64_d *TCGv_i64;
struct DisasContextBase;

/* softmmu/vl.c, version(): the Hypanda line after QEMU's own version lines,
 * which stay untouched because libvirt and other tools parse them. */
void hypanda_print_version(void);

/* softmmu/vl.c, option parsing: -panda, -panda-plugin, -panda-arg. A
 * malformed value is reported and the emulator exits with status 1. */
void hypanda_cmdline_panda(const char *optarg);
void hypanda_cmdline_panda_plugin(const char *optarg);
void hypanda_cmdline_panda_arg(const char *optarg);

/* softmmu/vl.c, after the machine is created and before the guest runs:
 * registers the QMP commands and loads the command line's plugins (exits
 * with status 1 if one cannot be loaded). */
void hypanda_startup(void);

/* softmmu/runstate.c, qemu_cleanup(), after the vCPUs stopped: unloads
 * every plugin, so uninit_plugin runs on every orderly exit. */
void hypanda_shutdown(void);

/* accel/tcg/translator.c: before a block is translated (before_block_translate),
 * at the start of its generated code (invalidate-opt, before_block_exec),
 * before each instruction's (insn_exec, precise PC), and once translated
 * (after_block_translate). */
void hypanda_block_translate_start(CPUState *cpu, TranslationBlock *tb, uint64_t pc);
void hypanda_gen_block_start(struct DisasContextBase *db, CPUState *cpu);
void hypanda_gen_insn_start(struct DisasContextBase *db, CPUState *cpu);
void hypanda_block_translate_end(CPUState *cpu, TranslationBlock *tb);

/* tcg/tcg-op.c: before each way a block's generated code leaves it for the
 * next block: after_block_exec. `exit` is the goto_tb exit number (0 or 1,
 * a chained jump), or one of the two below. Not on the exit taken when the
 * block does not run. */
enum {
    HYPANDA_EXIT_TO_MAIN_LOOP = -1, /* exit_tb(NULL): back to cpu_exec */
    HYPANDA_EXIT_BY_LOOKUP = -2,    /* lookup_and_goto_ptr: indirect jump */
};
void hypanda_gen_block_end(int exit);

/* accel/tcg/cpu-exec.c: the translated block the lookup at an indirect
 * jump would go to from the current state, or NULL (not translated yet,
 * or breakpoints set). */
TranslationBlock *hypanda_lookup_next_tb(CPUState *cpu);

/* accel/tcg/translate-all.c: the guest state has just been restored to the
 * faulting instruction after a fault inside a block (cb_cpu_restore_state);
 * `insns_left` of the block's instructions, from that one on, did not
 * complete (the instruction count takes them back). */
void hypanda_cpu_restore_state(CPUState *cpu, TranslationBlock *tb, int insns_left);

/* accel/tcg/translate-all.c (patch 0012): how many of `tb`'s instructions,
 * from the one the generated code at `host_pc` belongs to on, have not
 * completed there (0 if host_pc is not in tb). */
int hypanda_tb_insns_left(TranslationBlock *tb, uintptr_t host_pc);

/* accel/tcg/cputlb.c, cpu_load_helper() and cpu_store_helper(): the guest
 * data accesses QEMU's C code makes (the cpu_ld and cpu_st functions:
 * descriptor tables, interrupt frames, IRET...): loads reported after they
 * happen, with the value; stores before, once the page is known to be
 * writable. The generated code's own accesses are reported by the code
 * itself (hypanda_gen_mem_*). `env` is the CPUArchState. */
/* accel/tcg/cpu-exec.c: an interrupt or exception is being delivered (its
 * memory accesses belong to no instruction); false again after it, and
 * after any longjmp back to the execution loop. */
void hypanda_delivering_interrupt(bool delivering);
void hypanda_mem_read(void *env, uint64_t addr, uint32_t oi, uint64_t value);
void hypanda_mem_write(void *env, uint64_t addr, uint32_t oi, uint64_t value, uintptr_t retaddr);

/* tcg/tcg-op.c: around each guest load and store the generated code makes,
 * while the memory callbacks are on (x86-64 targets: addresses are 64-bit).
 * hypanda_gen_mem_prepare copies the address before a load (which may
 * overwrite it), or returns NULL when nothing is instrumented; the load
 * hooks take that copy (and free it), after the load; the store hooks run
 * before the store. */
TCGv_i64 hypanda_gen_mem_prepare(TCGv_i64 addr);
void hypanda_gen_mem_load_i32(TCGv_i64 addr_copy, TCGv_i32 val, uint32_t oi);
void hypanda_gen_mem_load_i64(TCGv_i64 addr_copy, TCGv_i64 val, uint32_t oi);
void hypanda_gen_mem_store_i32(TCGv_i64 addr, TCGv_i32 val, uint32_t oi);
void hypanda_gen_mem_store_i64(TCGv_i64 addr, TCGv_i64 val, uint32_t oi);

/* target/i386/tcg/misc_helper.c: CPUID, the x86 guest hypercall, before it
 * executes (guest_hypercall). */
void hypanda_guest_hypercall(CPUState *cpu);

/* linux-user/main.c, just before the first guest instruction: loads the
 * plugins named with -panda/-panda-plugin (argv0 locates panda_plugins/). */
void hypanda_user_startup(const char *argv0);

/* linux-user/exit.c, preexit_cleanup(): the process is about to end (exit,
 * exit_group, or a fatal signal); plugins get their uninit_plugin. */
void hypanda_user_exit(void);

/* linux-user/syscall.c, do_syscall(): around every guest system call, with
 * the raw arguments; `fcntl_flags_tbl` is syscall.c's flag translation
 * table (a const bitmask_transtbl *). Not called for exit/exit_group, which
 * do not return. */
void hypanda_user_before_syscall(CPUState *cpu, const void *fcntl_flags_tbl, int num,
                                 int64_t arg1, int64_t arg2, int64_t arg3, int64_t arg4,
                                 int64_t arg5, int64_t arg6, int64_t arg7, int64_t arg8);
void hypanda_user_after_syscall(CPUState *cpu, const void *fcntl_flags_tbl, int num,
                                int64_t arg1, int64_t arg2, int64_t arg3, int64_t arg4,
                                int64_t arg5, int64_t arg6, int64_t arg7, int64_t arg8,
                                int64_t ret);

/* The LLVM engine (llvm/engine.c, patch 0016).
 * accel/tcg/translate-all.c, tb_gen_code(): TCG generated `tb`'s host code
 * from the ops still in `s`; in LLVM mode they are lifted and compiled too
 * (always called: it also clears the block's LLVM function). */
void hypanda_llvm_translate(TCGContext *s, TranslationBlock *tb);

/* accel/tcg/cpu-exec.c, cpu_tb_exec(): whether `tb` runs as LLVM code, and
 * running it (`env` is the CPUArchState; the result is exit_tb's value);
 * after a longjmp back to cpu_exec, no block is running. */
bool hypanda_llvm_runs(TranslationBlock *tb);
uintptr_t hypanda_llvm_exec(void *env, TranslationBlock *tb);
void hypanda_llvm_unwound(void);

/* Unwinding (accel/tcg/translate-all.c, tcg/region.c): a return address
 * outside TCG's code buffer while an LLVM block runs on this thread belongs
 * to that block (hypanda_llvm_in_block, hypanda_llvm_tb_lookup), at the
 * instruction hypanda_llvm_insn_of gives (-1: not an LLVM block's). */
bool hypanda_llvm_in_block(uintptr_t host_pc);
TranslationBlock *hypanda_llvm_tb_lookup(uintptr_t host_pc);
int hypanda_llvm_insn_of(TranslationBlock *tb, uintptr_t host_pc);

/* accel/tcg/tb-maint.c, do_tb_flush(): translated code was dropped; the
 * compiled blocks go too. */
void hypanda_llvm_flushed(void);

/* hmp-commands.hx: the PANDA monitor commands. */
void hmp_panda_load_plugin(Monitor *mon, const QDict *qdict);
void hmp_panda_unload_plugin(Monitor *mon, const QDict *qdict);
void hmp_panda_enable_plugin(Monitor *mon, const QDict *qdict);
void hmp_panda_disable_plugin(Monitor *mon, const QDict *qdict);
void hmp_panda_list_plugins(Monitor *mon, const QDict *qdict);
void hmp_panda_plugin_cmd(Monitor *mon, const QDict *qdict);
void hmp_panda_llvm(Monitor *mon, const QDict *qdict);

#ifdef __cplusplus
}
#endif

#endif
