/*
 * The LLVM engine inside QEMU: when it is on, every block TCG translates
 * is also lifted to LLVM IR (lift.c) and compiled (jit.cc), and cpu_exec
 * runs the compiled function instead of TCG's host code. Its call sites in
 * QEMU (patch 0016) are declared in tcg-instrument/qemu_hooks.h:
 *
 * - tb_gen_code: lift the block just translated (hypanda_llvm_translate);
 * - cpu_tb_exec: run it (hypanda_llvm_runs, hypanda_llvm_exec);
 * - unwinding a fault or a helper's exit inside a block: the block running
 *   on this thread and its instruction number, which the lifted code
 *   stores at each insn_start, stand in for TCG's search of its host code
 *   (hypanda_llvm_tb_lookup, hypanda_llvm_insn_of), so cpu_restore_state,
 *   record/replay's instruction count and self-modifying code work as
 *   under TCG;
 * - the translation cache's flush: the compiled code goes with it.
 *
 * Switching (panda_enable_llvm / panda_disable_llvm, the monitor's `llvm`,
 * the hypercall) takes effect at a safe point: the vCPUs are out of guest
 * code, the mode changes and the translated code is flushed, so from the
 * next block on every block runs in the new mode. While the engine is on,
 * TCG is told the host has no vector unit, so the translator's vector
 * operations become helper calls (which the JIT calls, or later links in)
 * rather than vector ops the lifter would need to know.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "qemu/cutils.h"
#include "exec/exec-all.h"
#include "hw/core/cpu.h"
#include "tcg/tcg.h"

#include "hypanda/llvm/engine.h"
#include "hypanda/llvm/jit.h"
#include "hypanda/llvm/lift.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

#include <dlfcn.h>
#include <link.h>
#include "hypanda/tcg-instrument/qemu_hooks.h"

static bool llvm_on;
static bool helpers_on;
static bool engine_started;
static bool host_had_avx1, host_had_avx2;

static HypandaLlvmStats stats;

static void print_stats_at_exit(void);

/* The passes plugins added (panda_llvm_add_function_pass), with the file
 * of the plugin whose code each is, for unloading. */
typedef struct PluginPass {
    HypandaJitFunctionPass fn;
    void *opaque;
    char *owner;
} PluginPass;
static GArray *plugin_passes;

/* What llvm_init's funPassMan points to. */
static int pass_token;

/* llvm_init: each registered callback is called once, before the next
 * block is lifted after LLVM mode comes on (or after it registers, if the
 * mode is on), so plugins loaded after whoever turned the mode on get it
 * too. Passes added then are in place before that block is compiled. */
static GHashTable *llvm_init_done;
static bool collecting_passes, passes_dirty;

static void push_passes(void)
{
    guint n = plugin_passes != NULL ? plugin_passes->len : 0;
    g_autofree HypandaJitFunctionPass *fns = g_new0(HypandaJitFunctionPass, n + 1);
    g_autofree void **opaques = g_new0(void *, n + 1);
    for (guint i = 0; i < n; i++) {
        fns[i] = g_array_index(plugin_passes, PluginPass, i).fn;
        opaques[i] = g_array_index(plugin_passes, PluginPass, i).opaque;
    }
    hypanda_jit_set_function_passes(fns, opaques, n);
}

static void passes_changed_work(CPUState *cpu, run_on_cpu_data data)
{
    (void)data;
    tb_flush(cpu);  /* in the exclusive section: at once */
    push_passes();
}

/* Code compiled without the current passes goes: the blocks at once (at a
 * safe point), the helpers by reloading them. */
static void passes_changed(void)
{
    if (!engine_started) {
        return;  /* pushed when the engine starts */
    }
    CPUState *cpu = current_cpu;
    if (cpu != NULL && cpu->running) {
        async_safe_run_on_cpu(cpu, passes_changed_work, RUN_ON_CPU_NULL);
    } else {
        /* the guest is not running: the flush is done before it runs again */
        if (first_cpu != NULL) {
            tb_flush(first_cpu);
        }
        push_passes();
    }
}

static void dispatch_llvm_init(void)
{
    const HypandaCallbackList *list = &hypanda_callbacks[PANDA_CB_LLVM_INIT];
    if (list->count == 0) {
        return;
    }
    if (llvm_init_done == NULL) {
        llvm_init_done = g_hash_table_new(NULL, NULL);
    }
    for (size_t i = 0; i < list->count; i++) {
        const HypandaCallback *c = &list->entries[i];
        if (!*c->enabled || g_hash_table_contains(llvm_init_done, (void *)c->cb.llvm_init)) {
            continue;
        }
        g_hash_table_add(llvm_init_done, (void *)c->cb.llvm_init);
        collecting_passes = true;
        c->cb.llvm_init(hypanda_jit_engine(), &pass_token, NULL);
        collecting_passes = false;
    }
    if (passes_dirty) {
        passes_dirty = false;
        push_passes();
        if (stats.blocks > 0 && current_cpu != NULL) {
            tb_flush(current_cpu);  /* blocks compiled before go */
        }
    }
}

void panda_llvm_add_function_pass(void *passes, panda_llvm_function_pass pass, void *opaque)
{
    if ((passes != NULL && passes != &pass_token) || pass == NULL) {
        error_report("panda_llvm_add_function_pass: %s", pass == NULL ? "no pass given"
                     : "'passes' is not what llvm_init gave (or NULL)");
        return;
    }
    Dl_info info;
    PluginPass p = { .fn = (HypandaJitFunctionPass)pass, .opaque = opaque };
    p.owner = g_strdup(dladdr((void *)pass, &info) && info.dli_fname ? info.dli_fname : "");
    if (plugin_passes == NULL) {
        plugin_passes = g_array_new(false, true, sizeof(PluginPass));
    }
    g_array_append_val(plugin_passes, p);
    if (collecting_passes) {
        passes_dirty = true;
    } else {
        passes_changed();
    }
}

void hypanda_llvm_plugin_unloading(void *handle)
{
    struct link_map *map = NULL;
    if (plugin_passes == NULL || dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == NULL) {
        return;
    }
    bool removed = false;
    for (guint i = plugin_passes->len; i-- > 0;) {
        PluginPass *p = &g_array_index(plugin_passes, PluginPass, i);
        if (strcmp(p->owner, map->l_name) == 0) {
            g_free(p->owner);
            g_array_remove_index(plugin_passes, i);
            removed = true;
        }
    }
    if (removed) {
        passes_changed();
    }
}

static bool start_engine(void)
{
    char error[256];
    if (engine_started) {
        return true;
    }
    if (!hypanda_jit_init(error, sizeof(error))) {
        error_report("llvm: %s; LLVM mode stays off", error);
        return false;
    }
    engine_started = true;
    push_passes();
    atexit(hypanda_llvm_exiting);
    return true;
}

/* Only with no vCPU in guest code (a safe point, or before the guest runs). */
static void apply(bool on, CPUState *cpu)
{
    if (on == llvm_on) {
        return;
    }
    if (on && !start_engine()) {
        return;
    }
    llvm_on = on;
    if (!on && helpers_on) {
        helpers_on = false;
        hypanda_jit_use_helpers(false);
    }
    if (on) {
        host_had_avx1 = have_avx1;
        host_had_avx2 = have_avx2;
        have_avx1 = false;
        have_avx2 = false;
    } else {
        have_avx1 = host_had_avx1;
        have_avx2 = host_had_avx2;
    }
    stats.switches++;
    if (cpu != NULL || first_cpu != NULL) {
        tb_flush(cpu != NULL ? cpu : first_cpu);
    }
}

static void apply_work(CPUState *cpu, run_on_cpu_data data)
{
    apply(data.host_int != 0, cpu);
}

void hypanda_llvm_request(bool on)
{
    CPUState *cpu = current_cpu;
    if (cpu != NULL && cpu->running) {
        /* from guest code (a callback): after the current block */
        async_safe_run_on_cpu(cpu, apply_work, RUN_ON_CPU_HOST_INT(on));
    } else {
        apply(on, NULL);
    }
}

void hypanda_llvm_request_async(bool on)
{
    if (first_cpu == NULL) {
        apply(on, NULL);
        return;
    }
    async_safe_run_on_cpu(first_cpu, apply_work, RUN_ON_CPU_HOST_INT(on));
}

void hypanda_llvm_exiting(void)
{
    const char *want = getenv("HYPANDA_LLVM_STATS");
    if (engine_started && want != NULL && strcmp(want, "1") == 0) {
        print_stats_at_exit();
    }
}

bool hypanda_llvm_enabled(void)
{
    return llvm_on;
}

bool panda_llvm_enabled(void)
{
    return llvm_on;
}

/* The helpers' bitcode for this emulator, next to QEMU's firmware. */
static char *helpers_path(void)
{
#ifdef CONFIG_SOFTMMU
    const char *kind = "softmmu";
#else
    const char *kind = "linux-user";
#endif
    return g_strdup_printf("%s/../share/hypanda/helpers-%s-%s.bc", qemu_get_exec_dir(), TARGET_NAME, kind);
}

static void apply_helpers(bool on, CPUState *cpu)
{
    if (on == helpers_on) {
        return;
    }
    if (on) {
        if (!llvm_on) {
            error_report("panda_enable_llvm_helpers: LLVM mode is off (call panda_enable_llvm first)");
            return;
        }
        char error[512];
        size_t in_jit = 0, native = 0;
        g_autofree char *path = helpers_path();
        if (!hypanda_jit_load_helpers(path, error, sizeof(error), &in_jit, &native)) {
            error_report("llvm: %s; helpers stay outside the JIT", error);
            return;
        }
        stats.helpers_in_jit = in_jit;
        stats.functions_native = native;
    }
    helpers_on = on;
    hypanda_jit_use_helpers(on);
    if (cpu != NULL || first_cpu != NULL) {
        tb_flush(cpu != NULL ? cpu : first_cpu);
    }
}

static void apply_helpers_work(CPUState *cpu, run_on_cpu_data data)
{
    apply_helpers(data.host_int != 0, cpu);
}

void hypanda_llvm_request_helpers(bool on)
{
    CPUState *cpu = current_cpu;
    if (cpu != NULL && cpu->running) {
        async_safe_run_on_cpu(cpu, apply_helpers_work, RUN_ON_CPU_HOST_INT(on));
    } else {
        apply_helpers(on, NULL);
    }
}

void panda_enable_llvm(void)
{
    hypanda_llvm_request(true);
}

void panda_enable_llvm_helpers(void)
{
    hypanda_llvm_request_helpers(true);
}

void panda_disable_llvm_helpers(void)
{
    hypanda_llvm_request_helpers(false);
}

bool hypanda_llvm_helpers_enabled(void)
{
    return helpers_on;
}

void panda_disable_llvm(void)
{
    hypanda_llvm_request(false);
}

void hypanda_llvm_stats(HypandaLlvmStats *out)
{
    HypandaJitTimes t = { 0 };
    if (engine_started) {
        hypanda_jit_times(&t);
    }
    *out = stats;
    out->optimize_ns = t.optimize_ns;
    out->compile_ns = t.compile_ns;
    out->code_bytes = t.code_bytes;
    hypanda_llvm_lift_counts(&out->calls_to_jit, &out->calls_to_emulator);
}

/* HYPANDA_LLVM_STATS=1: the engine's counts on standard error at exit. */
static void print_stats_at_exit(void)
{
    static bool printed;
    if (printed) {
        return;
    }
    printed = true;
    HypandaLlvmStats st;
    hypanda_llvm_stats(&st);
    fprintf(stderr, "llvm: %" PRIu64 " blocks in %.3f s (lift %.3f, optimise %.3f, compile %.3f); %" PRIu64
            " flushes, %" PRIu64 " code bytes; helpers: %" PRIu64 " in the JIT, %" PRIu64
            " functions left to the emulator; helper calls lifted: %" PRIu64 " to the JIT, %" PRIu64
            " to the emulator\n", st.blocks, st.translate_ns / 1e9,
            (st.translate_ns - st.optimize_ns - st.compile_ns) / 1e9, st.optimize_ns / 1e9, st.compile_ns / 1e9,
            st.flushes, st.code_bytes, st.helpers_in_jit, st.functions_native, st.calls_to_jit,
            st.calls_to_emulator);
}

void hypanda_llvm_translate(TCGContext *s, TranslationBlock *tb)
{
    tb->hypanda_llvm_fn = NULL;
    if (!llvm_on) {
        return;
    }
    char name[32], error[256];
    dispatch_llvm_init();
    int64_t start = get_clock();
    hypanda_jit_lock();
    snprintf(name, sizeof(name), "tb%" PRIu64, stats.blocks);
    LLVMModuleRef mod = hypanda_llvm_lift(s, tb, hypanda_jit_context(), name, helpers_on, error, sizeof(error));
    void *fn = mod != NULL ? hypanda_jit_compile(mod, name, error, sizeof(error)) : NULL;
    hypanda_jit_unlock();
    stats.blocks++;
    stats.translate_ns += get_clock() - start;
    if (fn == NULL) {
        error_report("llvm: the block at 0x%" PRIx64 ": %s; LLVM mode turned off", (uint64_t)tb_pc(tb), error);
        stats.failures++;
        hypanda_llvm_request(false);
        return;
    }
    tb->hypanda_llvm_fn = fn;
    if (hypanda_jit_nearly_full() && current_cpu != NULL) {
        tb_flush(current_cpu);
    }
}

bool hypanda_llvm_runs(TranslationBlock *tb)
{
    return llvm_on && tb->hypanda_llvm_fn != NULL;
}

QEMU_BUILD_BUG_ON(TB_EXIT_IDXMAX >= HYPANDA_LLVM_CHAIN || TB_EXIT_REQUESTED == HYPANDA_LLVM_CHAIN);

/* Runs the block, and the blocks it chains to (a return of
 * next | HYPANDA_LLVM_CHAIN: lift.c), until one exits to cpu_exec. The
 * lifted code keeps CPUState::hypanda_llvm_tb up to date (each block stores
 * its own at entry); it is cleared when control comes back here or by
 * longjmp. A chained block whose function went meanwhile (another thread
 * flushing) runs TCG's code for it, which is as valid. */
uintptr_t hypanda_llvm_exec(void *env, TranslationBlock *tb)
{
    uintptr_t ret = ((uintptr_t (*)(void *))tb->hypanda_llvm_fn)(env);
    while ((ret & TB_EXIT_MASK) == HYPANDA_LLVM_CHAIN) {
        TranslationBlock *next = (TranslationBlock *)(ret & ~(uintptr_t)TB_EXIT_MASK);
        void *fn = qatomic_read(&next->hypanda_llvm_fn);
        if (fn == NULL) {
            current_cpu->hypanda_llvm_tb = NULL;
            return tcg_qemu_tb_exec(env, next->tc.ptr);
        }
        ret = ((uintptr_t (*)(void *))fn)(env);
    }
    current_cpu->hypanda_llvm_tb = NULL;
    return ret;
}

void hypanda_llvm_unwound(void)
{
    if (current_cpu != NULL) {
        current_cpu->hypanda_llvm_tb = NULL;
    }
}

/* An indirect jump's lookup (in place of helper_lookup_tb_ptr): the next
 * block, if it has an LLVM function, for hypanda_llvm_exec to run; or NULL
 * to return to cpu_exec. */
void *hypanda_llvm_lookup(void *env)
{
    (void)env;
    TranslationBlock *tb = hypanda_lookup_next_tb(current_cpu);
    return tb != NULL && llvm_on && tb->hypanda_llvm_fn != NULL ? tb : NULL;
}

static TranslationBlock *running_block(void)
{
    return current_cpu != NULL ? current_cpu->hypanda_llvm_tb : NULL;
}

static bool in_tcg_code(uintptr_t host_pc)
{
    return in_code_gen_buffer((const void *)(host_pc - tcg_splitwx_diff));
}

bool hypanda_llvm_in_block(uintptr_t host_pc)
{
    return running_block() != NULL && !in_tcg_code(host_pc);
}

TranslationBlock *hypanda_llvm_tb_lookup(uintptr_t host_pc)
{
    return hypanda_llvm_in_block(host_pc) ? running_block() : NULL;
}

int hypanda_llvm_insn_of(TranslationBlock *tb, uintptr_t host_pc)
{
    if (tb == NULL || running_block() != tb || in_tcg_code(host_pc)) {
        return -1;
    }
    return (int)current_cpu->hypanda_llvm_insn;
}

void hypanda_llvm_flushed(void)
{
    if (engine_started) {
        hypanda_jit_drop_all();
        stats.flushes++;
    }
}
