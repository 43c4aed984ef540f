/*
 * Hypanda plugin SDK: the C ABI a PANDA plugin is written against.
 *
 * A plugin is a shared object (panda_<name>.so) that includes this header,
 * defines init_plugin() and uninit_plugin(), and talks to the emulator only
 * through the functions declared here. No QEMU header is needed: CPUState,
 * TranslationBlock and Monitor are opaque, and guest state is read and
 * written through accessors. Build one with
 *
 *     cc -shared -fPIC $(pkg-config --cflags panda-plugin) foo.c -o panda_foo.so
 *
 * Names and semantics follow the PANDA plugin manual; where this header and
 * the manual differ, the header documents the difference.
 *
 * Threading: callbacks run on the vCPU thread that triggered them. Unless a
 * function says otherwise it may be called from init_plugin, from any
 * callback, and from uninit_plugin. Pointers handed to a callback are valid
 * only for the duration of that callback.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PANDA_PLUGIN_H
#define PANDA_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. A plugin records it (see below) and the
 * loader refuses a plugin built for another ABI, saying which. */
#define PANDA_SDK_ABI_VERSION 1

/* ---- Types ---------------------------------------------------------------- */

/* Opaque emulator objects. Plugins only hold pointers to them. */
typedef struct CPUState CPUState;
typedef struct TranslationBlock TranslationBlock;
typedef struct Monitor Monitor;
typedef struct bitmask_transtbl bitmask_transtbl;

/* Guest addresses and register-sized values are 64 bits on every target. */
typedef uint64_t target_ulong;
typedef uint64_t target_phys_addr_t;
typedef int64_t abi_long;

/* The callback kinds, in the PANDA manual's order. */
typedef enum panda_cb_type {
    PANDA_CB_BEFORE_BLOCK_TRANSLATE,           /* before translating each basic block */
    PANDA_CB_AFTER_BLOCK_TRANSLATE,            /* after translating each basic block */
    PANDA_CB_BEFORE_BLOCK_EXEC_INVALIDATE_OPT, /* before executing a block; may invalidate it */
    PANDA_CB_BEFORE_BLOCK_EXEC,                /* before executing each basic block */
    PANDA_CB_AFTER_BLOCK_EXEC,                 /* after executing each basic block */
    PANDA_CB_INSN_TRANSLATE,                   /* before an instruction is translated */
    PANDA_CB_INSN_EXEC,                        /* before an instruction is executed */
    PANDA_CB_VIRT_MEM_READ,                    /* after each memory read (virtual address) */
    PANDA_CB_VIRT_MEM_WRITE,                   /* before each memory write (virtual address) */
    PANDA_CB_PHYS_MEM_READ,                    /* after each memory read (physical address) */
    PANDA_CB_PHYS_MEM_WRITE,                   /* before each memory write (physical address) */
    PANDA_CB_GUEST_HYPERCALL,                  /* hypercall from the guest (x86: CPUID) */
    PANDA_CB_MONITOR,                          /* plugin_cmd from the monitor */
    PANDA_CB_LLVM_INIT,                        /* on LLVM JIT initialisation */
    PANDA_CB_CPU_RESTORE_STATE,                /* in cpu_restore_state() (fault/exception) */
    PANDA_CB_USER_BEFORE_SYSCALL,              /* linux-user: before a system call */
    PANDA_CB_USER_AFTER_SYSCALL,               /* linux-user: after a system call */
    PANDA_CB_REPLAY_HD_TRANSFER,               /* replay: a disk transfer */
    PANDA_CB_REPLAY_BEFORE_CPU_PHYSICAL_MEM_RW_RAM, /* replay: DMA into/out of RAM */
    PANDA_CB_REPLAY_HANDLE_PACKET,             /* replay: a network packet */
    PANDA_CB_ENGINE_CHANGED,                   /* Hypanda: the guest moved to another engine */
    PANDA_CB_LAST
} panda_cb_type;

/* One member per callback kind; see the PANDA manual for each one's
 * arguments, timing and return value. */
typedef union panda_cb {
    int (*before_block_translate)(CPUState *env, target_ulong pc);
    int (*after_block_translate)(CPUState *env, TranslationBlock *tb);
    bool (*before_block_exec_invalidate_opt)(CPUState *env, TranslationBlock *tb);
    int (*before_block_exec)(CPUState *env, TranslationBlock *tb);
    int (*after_block_exec)(CPUState *env, TranslationBlock *tb, TranslationBlock *next_tb);
    bool (*insn_translate)(CPUState *env, target_ulong pc);
    int (*insn_exec)(CPUState *env, target_ulong pc);
    int (*virt_mem_read)(CPUState *env, target_ulong pc, target_ulong addr, target_ulong size,
                         void *buf);
    int (*virt_mem_write)(CPUState *env, target_ulong pc, target_ulong addr, target_ulong size,
                          void *buf);
    int (*phys_mem_read)(CPUState *env, target_ulong pc, target_ulong addr, target_ulong size,
                         void *buf);
    int (*phys_mem_write)(CPUState *env, target_ulong pc, target_ulong addr, target_ulong size,
                          void *buf);
    int (*guest_hypercall)(CPUState *env);
    int (*monitor)(Monitor *mon, const char *cmd);
    int (*llvm_init)(void *exEngine, void *funPassMan, void *module);
    int (*cb_cpu_restore_state)(CPUState *env, TranslationBlock *tb);
    int (*user_before_syscall)(void *cpu_env, bitmask_transtbl *fcntl_flags_tbl, int num,
                               abi_long arg1, abi_long arg2, abi_long arg3, abi_long arg4,
                               abi_long arg5, abi_long arg6, abi_long arg7, abi_long arg8);
    int (*user_after_syscall)(void *cpu_env, bitmask_transtbl *fcntl_flags_tbl, int num,
                              abi_long arg1, abi_long arg2, abi_long arg3, abi_long arg4,
                              abi_long arg5, abi_long arg6, abi_long arg7, abi_long arg8,
                              void *p, abi_long ret);
    int (*replay_hd_transfer)(CPUState *env, uint32_t type, uint64_t src_addr,
                              uint64_t dest_addr, uint32_t num_bytes);
    int (*replay_before_cpu_physical_mem_rw_ram)(CPUState *env, uint32_t is_write,
                                                 uint64_t src_addr, uint64_t dest_addr,
                                                 uint32_t num_bytes);
    int (*replay_handle_packet)(CPUState *env, uint8_t *buf, int size, uint8_t direction,
                                uint64_t old_buf_addr);
    /* Hypanda extension, hybrid mode: the vCPU now runs in `engine`
     * (PANDA_ENGINE_TCG or PANDA_ENGINE_KVM). Called on the vCPU thread
     * right after the switch, before the guest runs in the new engine. */
    int (*engine_changed)(CPUState *env, int engine);
    void *cbaddr; /* any member, as a plain pointer */
} panda_cb;

/* ---- What a plugin defines ------------------------------------------------ */

/* Called once after the plugin is loaded; `self` is its handle (usable with
 * dlsym, and with the functions below). Return false to refuse to run: the
 * plugin is then unloaded at once (uninit_plugin is not called). */
bool init_plugin(void *self);

/* Called once when the plugin is unloaded: from the monitor, by another
 * plugin, or when the emulator exits (quit, guest shutdown, SIGTERM).
 * Release everything here; no callback of the plugin runs afterwards. */
void uninit_plugin(void *self);

/* Every plugin that includes this header records the ABI it was built
 * against in this symbol; the loader reads it. (A weak definition, so any
 * number of the plugin's files may include the header.) */
#ifndef PANDA_SDK_INTERNAL
#ifdef __cplusplus
#define PANDA_ABI_VERSION_LINKAGE extern /* a C++ const is file-local otherwise */
#else
#define PANDA_ABI_VERSION_LINKAGE
#endif
__attribute__((weak, visibility("default"))) PANDA_ABI_VERSION_LINKAGE const uint32_t
    panda_plugin_abi_version = PANDA_SDK_ABI_VERSION;
#endif

/* ---- Callback and plugin management --------------------------------------- */

/* Registers `cb` as the plugin's callback of kind `type`. A plugin may
 * register several callbacks of one kind; they run in registration order,
 * after those of plugins loaded earlier. Registrations made inside a
 * callback take effect when the current block has finished. */
void panda_register_callback(void *plugin, panda_cb_type type, panda_cb cb);

/* Handle of a loaded plugin by name: its file's base name
 * ("panda_syscalls.so") or its short name ("syscalls"); NULL if none. */
void *panda_get_plugin_by_name(const char *name);

/* Loads the plugin at `filename` (a path; no search is done) with no
 * arguments beyond those given by -panda-arg. Returns true if it loaded and
 * its init_plugin returned true. */
bool panda_load_plugin(const char *filename);

/* Unloads a plugin: its callbacks stop, then its uninit_plugin runs and its
 * code is unmapped. Asked from inside a callback (also of the plugin
 * itself), this happens once the current block is done; until then only
 * the calls already in that block's code (before_block_exec, insn_exec,
 * after_block_exec) may still reach the plugin. Refused, with one error
 * line naming them, while other plugins use it (see panda_require). */
void panda_unload_plugin(void *plugin);

/* Stops / resumes running a plugin's callbacks; it stays loaded. Asked from
 * inside a callback, the exec callbacks of the current block's code are
 * still made; from the next block on the change holds (translated code is
 * redone). */
void panda_disable_plugin(void *plugin);
void panda_enable_plugin(void *plugin);

/* ---- Plugin-to-plugin interfaces (PANDA's; macros in plugin_plugin.h) ------ */

/* Makes sure plugin `name` (short or file name, found like -panda's) is
 * loaded, loading it with the arguments -panda-arg gave it if it is not, and
 * returns its handle. Meant for init_plugin: the dependency is then loaded
 * and initialised before the caller goes on, and is listed (and unloaded at
 * exit) before it. A plugin that is already loaded is not loaded again.
 * The caller is recorded as a user of `name`, which then cannot be unloaded
 * while the caller is loaded. On failure (not found, its init_plugin
 * refused, a dependency cycle) it returns NULL; called from init_plugin,
 * the caller then fails to load too, with one error line naming both. */
void *panda_require(const char *name);

/* The same, with arguments for `name` ("key=value,key=value", as after the
 * ':' of -panda) added to any -panda-arg gave it; used only if this call
 * loads it. */
void *panda_require_with_args(const char *name, const char *args);

/* Address of `symbol`, a function or object plugin `plugin` exports, for
 * calling a plugin's API (see PANDA_IMPORT in plugin_plugin.h). `plugin`
 * must be loaded (panda_require it first). Records the caller as a user of
 * `plugin`. NULL after one error line naming both plugins and the symbol;
 * called from init_plugin, the caller then fails to load. */
void *panda_import(const char *plugin, const char *symbol);

/* Registers / removes `fn` as a callback of plugin `plugin`'s PPP callback
 * point `cb_name` (what PPP_REG_CB and PPP_REMOVE_CB expand to). With
 * `with_context` true, `fn` takes a context pointer before the callback's
 * own arguments and is called with `context` there. Registration makes the caller
 * a user of `plugin`; whatever the caller still has registered when it is
 * unloaded is removed for it. Register returns false after one error line
 * (provider not loaded, no such callback point); remove returns whether `fn`
 * (with `context`) was registered. */
bool panda_ppp_register(const char *plugin, const char *cb_name, void (*fn)(void), void *context,
                        bool with_context);
bool panda_ppp_remove(const char *plugin, const char *cb_name, void (*fn)(void), void *context,
                      bool with_context);

/* ---- Arguments ------------------------------------------------------------ */

typedef struct panda_arg {
    char *argptr; /* for internal use only */
    char *key;
    char *value;
} panda_arg;

typedef struct panda_arg_list {
    int nargs;
    panda_arg *list;
} panda_arg_list;

/* The arguments given to plugin `plugin_name` (its short name, e.g.
 * "syscalls"; "panda_syscalls.so" is accepted too), from -panda, -panda-arg
 * and load_plugin, in the order given. Never NULL; free with
 * panda_free_args. */
panda_arg_list *panda_get_args(const char *plugin_name);
void panda_free_args(panda_arg_list *args);

/* Typed access to one argument. The _req forms report a missing or
 * unparsable value as an error naming the plugin and key, and make the
 * plugin fail to load (init_plugin's return value is then ignored); the
 * _opt forms return `defval` when the key is absent, and report an
 * unparsable value the same way. Returned strings belong to `args`. */
bool panda_parse_bool_req(panda_arg_list *args, const char *key, const char *help);
bool panda_parse_bool_opt(panda_arg_list *args, const char *key, const char *help);
uint64_t panda_parse_uint64_req(panda_arg_list *args, const char *key, const char *help);
uint64_t panda_parse_uint64_opt(panda_arg_list *args, const char *key, uint64_t defval,
                                const char *help);
double panda_parse_double_req(panda_arg_list *args, const char *key, const char *help);
double panda_parse_double_opt(panda_arg_list *args, const char *key, double defval,
                              const char *help);
const char *panda_parse_string_req(panda_arg_list *args, const char *key, const char *help);
const char *panda_parse_string_opt(panda_arg_list *args, const char *key, const char *defval,
                                   const char *help);

/* ---- Guest state ---------------------------------------------------------- */

/* Architecture-neutral registers, then x86 ones. Values are zero-extended
 * to 64 bits. */
typedef enum panda_reg {
    PANDA_REG_PC,     /* program counter (x86: linear address, CS base + RIP) */
    PANDA_REG_SP,     /* stack pointer */
    PANDA_REG_RETVAL, /* integer return value register */
    PANDA_REG_X86_RAX = 0x100,
    PANDA_REG_X86_RCX,
    PANDA_REG_X86_RDX,
    PANDA_REG_X86_RBX,
    PANDA_REG_X86_RSP,
    PANDA_REG_X86_RBP,
    PANDA_REG_X86_RSI,
    PANDA_REG_X86_RDI,
    PANDA_REG_X86_R8,
    PANDA_REG_X86_R9,
    PANDA_REG_X86_R10,
    PANDA_REG_X86_R11,
    PANDA_REG_X86_R12,
    PANDA_REG_X86_R13,
    PANDA_REG_X86_R14,
    PANDA_REG_X86_R15,
    PANDA_REG_X86_RIP,
    PANDA_REG_X86_RFLAGS,
    PANDA_REG_X86_CR0,
    PANDA_REG_X86_CR2,
    PANDA_REG_X86_CR3,
    PANDA_REG_X86_CR4,
    PANDA_REG_X86_EFER,
    PANDA_REG_X86_CS,
    PANDA_REG_X86_SS,
    PANDA_REG_X86_FS_BASE,
    PANDA_REG_X86_GS_BASE,
    PANDA_REG_X86_KERNEL_GS_BASE, /* MSR_KERNEL_GS_BASE: what SWAPGS exchanges with GS's base */
} panda_reg;

/* Reads / writes one register of `cpu`. Returns 0, or -1 for a register this
 * target does not have or that is read-only (PC, flags, CR registers,
 * segments). A write from before_block_exec or insn_exec is seen by the
 * block or instruction about to run, and by the callbacks after it (the
 * engine then resumes the guest there without calling them again). From a memory callback
 * a write is refused (-1, and one error line): the instruction making the
 * access is half done. */
int panda_reg_read(CPUState *cpu, panda_reg reg, uint64_t *value);
int panda_reg_write(CPUState *cpu, panda_reg reg, uint64_t value);

/* A register's id from its name ("pc", "sp", "rax", "cr3", ...; lower
 * case), or -1 if there is none by that name. */
int panda_reg_from_name(const char *name);

/* The guest PC: in insn_exec and insn_translate, the instruction's; in block
 * callbacks, the block's first instruction's (in after_block_exec with
 * precise PC on, its last one's); elsewhere the CPU's PC, which inside a
 * block is exact only with precise PC on (panda_enable_precise_pc). */
target_ulong panda_current_pc(CPUState *cpu);

/* Current privilege level: 0 (kernel) to 3 (user) on x86. */
int panda_privilege_level(CPUState *cpu);
bool panda_in_kernel(CPUState *cpu);

/* Address-space identifier: the page-table base (x86: CR3). */
target_ulong panda_current_asid(CPUState *cpu);

/* The vCPU's index, 0 for the first. */
int panda_cpu_index(CPUState *cpu);

/* The CPUState of a CPU-state pointer as lifted code has it: an LLVM block's
 * argument 0 (docs/llvm.md), which is also what the code an LLVM pass
 * inserts can pass on to the plugin. Any time; the pointer lives as long as
 * the vCPU. */
CPUState *panda_cpu_from_env(void *env);

/* The vCPU with index `index` (0, 1, ...), NULL past the last one. */
CPUState *panda_cpu_by_index(int index);

/* The reverse: the vCPU's CPU-state pointer, and in *size the CPU state's
 * size in bytes (what a pass following QEMU's helpers, which reach the
 * state through pointers, needs to tell it from other memory). */
void *panda_cpu_env(CPUState *cpu, size_t *size);

/* Where register `reg` (PANDA_REG_X86_RAX .. R15, or PANDA_REG_X86_RIP:
 * its field holds RIP less CS's base) lives in that CPU state: its byte
 * offset from the pointer, for LLVM passes that follow registers; -1 for
 * any other register (not one field there). */
long panda_reg_env_offset(int reg);

/* A translation block's guest PC, size in bytes and instruction count. */
target_ulong panda_tb_pc(const TranslationBlock *tb);
uint32_t panda_tb_size(const TranslationBlock *tb);
uint32_t panda_tb_icount(const TranslationBlock *tb);

/* Reads (is_write = 0) or writes `len` bytes of guest physical memory at
 * `addr`. Only RAM, never device memory. Returns 0, or -1 if any byte is not
 * RAM (nothing is written then). */
int panda_physical_memory_rw(target_phys_addr_t addr, uint8_t *buf, int len, int is_write);

/* The same through `cpu`'s current page tables. Returns 0, or -1 if a page
 * is unmapped or not RAM. */
int panda_virtual_memory_rw(CPUState *cpu, target_ulong addr, uint8_t *buf, int len,
                            int is_write);

/* Guest-physical address `addr` maps to through `cpu`'s page tables, or
 * (target_ulong)-1 if unmapped. */
target_ulong panda_virt_to_phys(CPUState *cpu, target_ulong addr);

/* The same from the vCPU's softmmu TLB alone, for an access the guest has
 * just made — mmu_idx is the access's (a MemOpIdx's low 4 bits), is_write
 * its direction: no page-table walk, so cheap enough for every access an
 * LLVM pass follows. (target_ulong)-1 when the TLB holds no entry for it
 * (then ask panda_virt_to_phys); always -1 in the linux-user emulator. */
target_ulong panda_virt_to_phys_tlb(CPUState *cpu, target_ulong addr, int mmu_idx, bool is_write);

/* ---- Runtime control ------------------------------------------------------ */

/* Drops all translated code; blocks are translated again as they run (so
 * insn_translate and the translate callbacks run again). Safe from any
 * callback: the flush happens once no vCPU runs guest code. */
void panda_do_flush_tb(void);

/* Turns the memory callbacks (virt/phys_mem_read/write) on and off; they are
 * off by default because every guest memory access then takes QEMU's slow
 * path. While on, the PC passed to them is the accessing instruction's
 * (precise PC is implied). Flushes TLBs and translated code itself. */
void panda_enable_memcb(void);
void panda_disable_memcb(void);

/* Where the memory access being reported comes from; valid inside a memory
 * callback (PANDA_MEM_BY_INSN outside them). */
typedef enum panda_mem_origin {
    PANDA_MEM_BY_INSN = 0,     /* an instruction's own load or store */
    PANDA_MEM_BY_HELPER = 1,   /* emulator code working for an instruction:
                                  descriptor tables, IRET's frame, ... */
    PANDA_MEM_BY_DELIVERY = 2, /* delivering an interrupt or exception (the
                                  frame pushed, the IDT read), between
                                  instructions */
} panda_mem_origin;
panda_mem_origin panda_mem_access_origin(void);

/* Turns translation-block chaining off and on. With chaining off every
 * block returns to the emulator's main loop before the next one. Flushes
 * translated code itself. */
void panda_disable_tb_chaining(void);
void panda_enable_tb_chaining(void);

/* Precise PC: the generated code records each instruction's PC as it runs,
 * so panda_current_pc (and PANDA_REG_PC) is the current instruction's in
 * every callback, not only in the instruction callbacks. Costs a store per
 * instruction. Flushes translated code itself. */
void panda_enable_precise_pc(void);
void panda_disable_precise_pc(void);

/* LLVM mode (docs/llvm.md): every block is lifted from TCG's ops to LLVM IR
 * and runs on LLVM's JIT; all callbacks work as under TCG. Callable at any
 * time (init_plugin, a callback, the monitor's `llvm on|off`): the switch
 * happens at the next block boundary and flushes translated code.
 * panda_llvm_enabled tells whether the mode is on now. */
void panda_enable_llvm(void);
void panda_disable_llvm(void);
bool panda_llvm_enabled(void);

/* Helpers in the JIT: QEMU's helpers (and the softmmu load/store paths)
 * run as LLVM code compiled from their bitcode, so an LLVM pass sees their
 * loads, stores and arithmetic. Needs LLVM mode (call panda_enable_llvm
 * first); turning LLVM mode off turns these off too. Same timing. */
void panda_enable_llvm_helpers(void);
void panda_disable_llvm_helpers(void);

/* LLVM passes (docs/llvm.md). The llvm_init callback runs once, when the
 * LLVM engine first starts: `exEngine` is the JIT (an llvm::orc::LLJIT *),
 * `funPassMan` the engine's pass list for panda_llvm_add_function_pass,
 * `module` NULL (each block is a module of its own). A function pass is
 * called with each block's function (named "tb<N>", `i64 (i8* env)`, after
 * the engine's optimisation) and, with the helpers in the JIT, with each
 * helper function before it is first compiled; `function` is an
 * LLVMValueRef (llvm::Function *; <panda/llvm_pass.h> for C++). Passes may
 * be added at any time (`passes` NULL then); code compiled before is
 * dropped, so every block and helper runs through every pass. A plugin's
 * passes go when it is unloaded. */
typedef void (*panda_llvm_function_pass)(void *function, void *opaque);
void panda_llvm_add_function_pass(void *passes, panda_llvm_function_pass pass, void *opaque);

/* Writes guest physical RAM, in the machine's RAM order (on a PC: from
 * address 0 up to the PCI hole, then from 4 GiB on), to `out`. Reads the
 * RAM's host copy only: the guest is not perturbed. */
void panda_memsavep(FILE *out);

/* ---- Monitor -------------------------------------------------------------- */

/* Prints to the monitor that sent the plugin_cmd (HMP: its console; QMP: the
 * command's reply). Only valid inside the monitor callback. */
void panda_monitor_printf(Monitor *mon, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Emulator ------------------------------------------------------------- */

/* ---- Instruction count (Hypanda extension) ----------------------------------- */

/* Turns on exact counting of the guest instructions each vCPU completes
 * (retranslates; then an add per executed block). It stays on. */
void panda_enable_instr_count(void);

/* The instructions `cpu` has completed since counting was turned on (0
 * before). Exact between blocks: in before_block_exec, those before this
 * block; in after_block_exec, those up to its end. Inside a block (insn_exec,
 * memory callbacks) it already counts the whole current block. An
 * instruction that faults and is restarted counts once, when it completes. */
uint64_t panda_instr_count(CPUState *cpu);

/* ---- Record/replay (PANDA's names) ------------------------------------------- */

/* Whether a recording is being made / replayed now. */
bool rr_in_record(void);
bool rr_in_replay(void);

/* While recording or replaying: the instructions completed since the
 * recording's start, the count its log and manifest use (the same exactness
 * as panda_instr_count); 0 otherwise. Recorded and replayed runs agree on
 * it at every instruction (docs/recording.md, "One instruction count"). */
uint64_t rr_get_guest_instr_count(void);

/* ---- Hybrid mode (Hypanda extension) ---------------------------------------- */

/* Engines. In hybrid mode (-accel kvm -hybrid on) the guest runs under KVM
 * and moves to TCG, where the callbacks above run, and back. Plugins stay
 * loaded either way; their callbacks only run while the guest is in TCG. */
#define PANDA_ENGINE_TCG 1
#define PANDA_ENGINE_KVM 2

/* The engine running the guest now. */
int panda_current_engine(void);

/* Asks for the guest to move to `engine` once the current block is done
 * (typically PANDA_ENGINE_KVM, when the plugin has seen what it wanted).
 * False, with one error line, without hybrid mode. */
bool panda_request_engine(int engine);

/* Asks the emulator to shut down in an orderly way (plugins are unloaded,
 * recordings closed) once the current callback has returned. */
void panda_request_exit(void);

#ifdef __cplusplus
}
#endif

#endif
