/*
 * Hybrid mode's x86 state transfer: the vCPU's whole state out of KVM into
 * QEMU's copy, with everything TCG derives from it, on the way into TCG;
 * back into KVM on the way out; TCG's time stamp counter in between.
 * docs/hybrid.md ("How it works") says what is carried and why.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "cpu.h"
#include "sysemu/cpu-timers.h"
#include "sysemu/kvm.h"
#include "exec/exec-all.h"
#include "exec/ram_addr.h"
#include "tcg/tcg.h"
#include "accel/kvm/kvm-cpus.h"
#include "accel/tcg/internal.h"

#include "hypanda/hypervisor/hybrid.h"
#include "hypanda/hypervisor/hybrid_hooks.h"
#include "hypanda/hypervisor/hybrid_int.h"
#include "hypanda/include/panda/hypercall.h"

/* ---- State transfer --------------------------------------------------------- */

/* TCG's time stamp counter: the host's, plus the offset that makes it
 * continue KVM's (cpu_get_tsc() for TCG; KVM reads its own). */
int64_t hybrid_elapsed_ticks(void)
{
    return cpu_get_ticks() + qatomic_read(&hybrid.tsc_delta);
}

/* QEMU 7.2's KVM sync does not carry the interrupt shadow (STI, MOV SS):
 * read it from KVM, and set it back, here. */
static bool kvm_get_interrupt_shadow(CPUState *cpu, struct kvm_vcpu_events *events)
{
    memset(events, 0, sizeof(*events));
    return kvm_vcpu_ioctl(cpu, KVM_GET_VCPU_EVENTS, events) == 0 && events->interrupt.shadow != 0;
}

static void kvm_set_interrupt_shadow(CPUState *cpu)
{
    struct kvm_vcpu_events events;
    memset(&events, 0, sizeof(events));
    if (kvm_vcpu_ioctl(cpu, KVM_GET_VCPU_EVENTS, &events) < 0) {
        return;
    }
    events.interrupt.shadow = KVM_X86_SHADOW_INT_STI;
    events.flags = KVM_VCPUEVENT_VALID_SHADOW;
    kvm_vcpu_ioctl(cpu, KVM_SET_VCPU_EVENTS, &events);
}

/* What KVM had injected but not delivered becomes TCG's pending exception:
 * delivered once, by TCG. */
static void take_kvm_events(CPUState *cpu, CPUX86State *env)
{
    if (env->exception_nr >= 0 && (env->exception_injected || env->exception_pending)) {
        cpu->exception_index = env->exception_nr;
        env->error_code = env->has_error_code ? env->error_code : 0;
        env->exception_is_int = 0;
        env->exception_next_eip = env->eip;
    } else if (env->nmi_injected) {
        cpu->exception_index = EXCP02_NMI;
        env->exception_is_int = 0;
    } else if (env->interrupt_injected >= 0) {
        cpu->exception_index = env->interrupt_injected;
        env->exception_is_int = env->soft_interrupt;
        env->exception_next_eip = env->eip;
    }
    if (env->nmi_pending) {
        cpu->interrupt_request |= CPU_INTERRUPT_NMI;
    }
    env->exception_nr = -1;
    env->exception_pending = 0;
    env->exception_injected = 0;
    env->interrupt_injected = -1;
    env->nmi_injected = 0;
    env->nmi_pending = 0;
}

int hypanda_hybrid_kvm_dirty_log_mask(int mask)
{
    return hybrid.keep_tbs ? mask : mask & ~(1 << DIRTY_MEMORY_CODE);
}

/* The RAM pages holding translated code that were written since the code
 * was translated: TCG keeps a page's code-dirty bit clear while it holds
 * translations, and KVM's dirty log (synchronised first) sets it. */
static gboolean collect_written_code(gpointer key, gpointer value, gpointer data)
{
    const TranslationBlock *tb = value;
    GArray *pages = data;
    for (int i = 0; i < 2; i++) {
        tb_page_addr_t page = tb->page_addr[i];
        if (page != -1 && cpu_physical_memory_get_dirty_flag(page, DIRTY_MEMORY_CODE)) {
            g_array_append_val(pages, page);
        }
    }
    return false;
}

/* Drops the translations the guest may have overwritten under KVM. With
 * keep-tbs=on only those on pages KVM's dirty log reports as written;
 * otherwise all of them. */
static void drop_stale_translations(CPUState *cpu)
{
    if (!hybrid.keep_tbs) {
        start_exclusive();
        tb_flush(cpu);
        end_exclusive();
        return;
    }
    memory_global_dirty_log_sync();
    g_autoptr(GArray) pages = g_array_new(false, false, sizeof(tb_page_addr_t));
    tcg_tb_foreach(collect_written_code, pages);
    for (guint i = 0; i < pages->len; i++) {
        tb_page_addr_t page = g_array_index(pages, tb_page_addr_t, i) & TARGET_PAGE_MASK;
        tb_invalidate_phys_range(page, page + TARGET_PAGE_SIZE);
    }
}

/* KVM's FPU state (FXSAVE/XSAVE layout, and QEMU's copy of it in env)
 * holds the x87 registers in stack order, ST(0) first; TCG indexes them
 * physically, ST(i) = fpregs[(TOP + i) & 7]. The tag bits are physical in
 * both. Rotates env->fpregs between the two; `to_kvm` picks the direction. */
static void rotate_x87_registers(CPUX86State *env, bool to_kvm)
{
    FPReg regs[8];
    unsigned top = env->fpstt & 7;
    for (unsigned i = 0; i < 8; i++) {
        if (to_kvm) {
            regs[i] = env->fpregs[(top + i) & 7];
        } else {
            regs[(top + i) & 7] = env->fpregs[i];
        }
    }
    memcpy(env->fpregs, regs, sizeof(regs));
}

void hybrid_enter_tcg(CPUState *cpu)
{
    X86CPU *x86 = X86_CPU(cpu);
    CPUX86State *env = &x86->env;

    /* Registers, XSAVE, XCRs, sregs, MSRs (TSC among them), events. */
    cpu->vcpu_dirty = false;
    kvm_cpu_synchronize_state(cpu);
    qatomic_set(&hybrid.tsc_delta, (int64_t)env->tsc - cpu_get_ticks());
    struct kvm_vcpu_events events;
    if (kvm_get_interrupt_shadow(cpu, &events)) {
        env->hflags |= HF_INHIBIT_IRQ_MASK;
    }
    take_kvm_events(cpu, env);
    rotate_x87_registers(env, false);

    /* What KVM's sync leaves for TCG to derive: hflags from CR0/CR4/EFER,
     * the softfloat rounding state, hardware breakpoints. */
    cpu_x86_update_cr0(env, env->cr[0]);
    cpu_x86_update_cr4(env, env->cr[4]);
    if (env->efer & MSR_EFER_SVME) {
        env->hflags |= HF_SVME_MASK;
    } else {
        env->hflags &= ~HF_SVME_MASK;
    }
    cpu_set_fpuc(env, env->fpuc);
    cpu_set_mxcsr(env, env->mxcsr);
    target_ulong dr7 = env->dr[7];
    env->dr[7] = hybrid.tcg_dr7;
    cpu_x86_update_dr7(env, dr7);
    env->cc_op = CC_OP_EFLAGS;

    /* The guest may have written code natively: no stale translation. */
    tlb_flush(cpu);
    drop_stale_translations(cpu);
}

void hybrid_enter_kvm(CPUState *cpu)
{
    X86CPU *x86 = X86_CPU(cpu);
    CPUX86State *env = &x86->env;

    hybrid.tcg_dr7 = env->dr[7];
    /* TCG keeps the x87, SSE and AVX registers in env but does not track
     * XSAVE's "in use" bits: left as KVM last reported them, a component
     * TCG changed would be restored from its initial state. */
    env->xstate_bv |= XSTATE_FP_MASK | XSTATE_SSE_MASK;
    if (env->features[FEAT_1_ECX] & CPUID_EXT_AVX) {
        env->xstate_bv |= XSTATE_YMM_MASK;
    }
    if (env->features[FEAT_7_0_ECX] & CPUID_7_0_ECX_PKU) {
        env->xstate_bv |= XSTATE_PKRU_MASK;
    }
    env->tsc = hybrid_elapsed_ticks();
    env->cc_op = CC_OP_EFLAGS;
    env->exception_nr = -1;
    env->interrupt_injected = -1;
    bool shadow = env->hflags & HF_INHIBIT_IRQ_MASK;
    /* RESET level: also the TSC and the MSRs a runtime write skips. */
    rotate_x87_registers(env, true);
    kvm_arch_put_registers(cpu, KVM_PUT_RESET_STATE);
    rotate_x87_registers(env, false);
    if (shadow) {
        kvm_set_interrupt_shadow(cpu);
    }
    cpu->vcpu_dirty = false;
    cpu->exit_request = 0;
}
