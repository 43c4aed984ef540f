/*
 * Workloads around hybrid mode's engine switches (model.h): window N,
 * timerswitch N, switchlat N. Without hybrid mode the switch hypercalls
 * answer "unavailable" and the values are the same.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "lapic.h"
#include "model.h"
#include "workloads.h"

/* ---- window N ---- */

uint64_t workload_window(uint64_t n)
{
    uint64_t ok = 0;
    uint64_t value = hp_count_loop(n);
    ok += hp_hybrid_call(HYPANDA_HC_SWITCH_TO_TCG) == HYPANDA_HC_OK;
    value += hp_count_loop(n);
    value += hp_hypercall_loop(n);
    ok += hp_hybrid_call(HYPANDA_HC_SWITCH_TO_KVM) == HYPANDA_HC_OK;
    value += hp_count_loop(n);
    con_puts("WINDOW ");
    con_put_dec(ok);
    con_puts("\n");
    return value;
}

/* ---- llvmwindow N ---- */

uint64_t workload_llvmwindow(uint64_t n)
{
    uint64_t value = hp_count_loop(n);
    const uint32_t on = hp_hybrid_call(HYPANDA_HC_LLVM_ON);
    const uint32_t during = hp_hybrid_call(HYPANDA_HC_QUERY_LLVM);
    value += hp_count_loop(n);
    value += hp_hypercall_loop(n);
    const uint32_t off = hp_hybrid_call(HYPANDA_HC_LLVM_OFF);
    const uint32_t after = hp_hybrid_call(HYPANDA_HC_QUERY_LLVM);
    value += hp_count_loop(n);
    con_puts("LLVMWINDOW ");
    con_put_dec(on);
    con_puts(" ");
    con_put_dec(during);
    con_puts(" ");
    con_put_dec(off);
    con_puts(" ");
    con_put_dec(after);
    con_puts("\n");
    return value;
}

/* ---- bracket N ---- */

uint64_t workload_bracket(uint64_t n)
{
    const uint32_t begin = hp_hybrid_call(HYPANDA_HC_BEGIN_RECORD);
    const uint64_t ticks = workload_timer(n);
    const uint64_t value = hp_count_loop(n);
    const uint32_t end = hp_hybrid_call(HYPANDA_HC_END_RECORD);
    con_puts("BRACKET ");
    con_put_hex(begin);
    con_puts(" ");
    con_put_hex(end);
    con_puts(" ticks ");
    con_put_dec(ticks);
    con_puts("\n");
    return value;
}

/* ---- timerswitch N ---- */

static volatile uint64_t ticks;
static uint64_t wanted;

static void on_timer(void)
{
    ticks++;
    if (ticks < wanted) {
        lapic_timer_rearm();
    } else {
        lapic_timer_stop(HP_TIMERSWITCH_VECTOR);
    }
    lapic_write(LAPIC_EOI, 0);
}

void hp_switch_answers_add(struct hp_switch_answers *a, uint32_t result)
{
    if (result == HYPANDA_HC_OK) {
        a->ok++;
    } else if (result == HYPANDA_HC_ERR_UNAVAILABLE) {
        a->unavailable++;
    } else if (result == HYPANDA_HC_ERR_FORBIDDEN) {
        a->forbidden++;
    } else if (result == HYPANDA_HC_NO_DEVICE) {
        a->no_device++;
    } else {
        hp_error_begin();
        con_puts("switch: hypercall answered ");
        con_put_hex(result);
        hp_error_end(HP_EXIT_WORKLOAD_FAILED);
    }
}

void hp_switch_answers_print(const struct hp_switch_answers *a)
{
    con_puts("SWITCHES ");
    con_put_dec(a->ok);
    con_puts(" unavailable ");
    con_put_dec(a->unavailable);
    con_puts(" forbidden ");
    con_put_dec(a->forbidden);
    con_puts(" no-device ");
    con_put_dec(a->no_device);
    con_puts("\n");
}

uint64_t workload_timerswitch(uint64_t n)
{
    struct hp_switch_answers answers = {0, 0, 0, 0};
    cpu_set_interrupt_handler(HP_TIMERSWITCH_VECTOR, on_timer);
    pic_remap_and_mask();

    ticks = 0;
    wanted = n;
    lapic_timer_start_oneshot(HP_TIMERSWITCH_VECTOR);

    /* One switch per HP_TIMERSWITCH_EVERY ticks before the last, however
     * the ticks fall: two may come in one wake-up (the handler returns
     * with interrupts on), and one switch is then made for each. */
    uint64_t next = HP_TIMERSWITCH_EVERY, calls = 0;
    while (ticks < wanted) {
        __asm__ volatile("sti; hlt; cli" ::: "memory");
        for (; next <= ticks && next < wanted; next += HP_TIMERSWITCH_EVERY) {
            hp_switch_answers_add(&answers, hp_hybrid_call(hp_switch_command(calls++)));
        }
    }
    hp_switch_answers_print(&answers);
    return ticks;
}

/* ---- switchlat N ---- */

static uint64_t lat[2][HP_SWITCHLAT_MAX / 2 + 1];
static uint64_t first_loop[HP_SWITCHLAT_MAX / 2 + 1], warm_loop[HP_SWITCHLAT_MAX / 2 + 1];

static void shell_sort(uint64_t *v, uint64_t n)
{
    for (uint64_t gap = n / 2; gap > 0; gap /= 2) {
        for (uint64_t i = gap; i < n; i++) {
            uint64_t x = v[i], j = i;
            for (; j >= gap && v[j - gap] > x; j -= gap) {
                v[j] = v[j - gap];
            }
            v[j] = x;
        }
    }
}

/* Median and 99th percentile (nearest rank) of v[0..n), sorted in place. */
static void print_stats(const char *name, uint64_t *v, uint64_t n, bool p99)
{
    shell_sort(v, n);
    con_puts(name);
    con_puts(" ");
    con_put_dec(n > 0 ? v[(n - 1) / 2] : 0);
    if (p99) {
        con_puts(" ");
        con_put_dec(n > 0 ? v[(n * 99 + 99) / 100 - 1] : 0);
    }
}

uint64_t workload_switchlat(uint64_t n)
{
    uint64_t count[2] = {0, 0};
    for (uint64_t i = 0; i < n; i++) {
        int to_kvm = (int)(i % 2);
        uint64_t t0 = rdtsc();
        hp_hybrid_call(hp_switch_command(i));
        uint64_t t1 = rdtsc();
        lat[to_kvm][count[to_kvm]] = t1 - t0;
        if (!to_kvm) {
            hp_count_loop(HP_SWITCHLAT_LOOP);
            uint64_t t2 = rdtsc();
            hp_count_loop(HP_SWITCHLAT_LOOP);
            uint64_t t3 = rdtsc();
            first_loop[count[0]] = t2 - t1;
            warm_loop[count[0]] = t3 - t2;
        }
        count[to_kvm]++;
    }
    /* Sorting is a lot of instructions: do it in TCG when there is one. */
    hp_hybrid_call(HYPANDA_HC_SWITCH_TO_TCG);
    con_puts("SWITCHLAT ");
    print_stats("to-tcg", lat[0], count[0], true);
    print_stats(" to-kvm", lat[1], count[1], true);
    print_stats(" first-loop", first_loop, count[0], false);
    print_stats(" warm-loop", warm_loop, count[0], false);
    con_puts("\n");
    return n;
}

/* ---- smc N ---- */

static uint8_t smc_code[64] __attribute__((aligned(64)));

uint64_t workload_smc(uint64_t n)
{
    uint64_t h = HP_FNV_OFFSET, x = HP_SMC_SEED;
    struct hp_switch_answers answers = {0, 0, 0, 0};
    for (uint64_t i = 0; i < n; i++) {
        x = hp_lcg_next(x);
        uint32_t v = hp_smc_round_value(x);
        volatile uint8_t *code = smc_code;
        code[0] = 0xb8; /* mov $imm32, %eax */
        for (int b = 0; b < 4; b++) {
            code[1 + b] = (uint8_t)(v >> (8 * b));
        }
        code[5] = 0xc3; /* ret */
        hp_switch_answers_add(&answers, hp_hybrid_call(HYPANDA_HC_SWITCH_TO_TCG));
        uint32_t got = ((uint32_t(*)(void))(uintptr_t)smc_code)();
        hp_switch_answers_add(&answers, hp_hybrid_call(HYPANDA_HC_SWITCH_TO_KVM));
        h = hp_fnv_u64(h, got);
    }
    hp_switch_answers_print(&answers);
    return h;
}

/* ---- msrswitch N ---- */

uint64_t workload_msrswitch(uint64_t n)
{
    uint64_t h = HP_FNV_OFFSET, x = HP_MSRSWITCH_SEED;
    uint64_t saved[HP_MSRSWITCH_COUNT], wrote[HP_MSRSWITCH_COUNT];
    struct hp_switch_answers answers = {0, 0, 0, 0};
    for (int k = 0; k < HP_MSRSWITCH_COUNT; k++) {
        saved[k] = rdmsr(hp_msrswitch_msr(k));
    }
    for (uint64_t i = 0; i < n; i++) {
        for (int k = 0; k < HP_MSRSWITCH_COUNT; k++) {
            x = hp_lcg_next(x);
            wrote[k] = hp_msrswitch_write(k, x);
            wrmsr(hp_msrswitch_msr(k), wrote[k]);
        }
        hp_switch_answers_add(&answers, hp_hybrid_call(hp_switch_command(i)));
        for (int k = 0; k < HP_MSRSWITCH_COUNT; k++) {
            uint64_t v = rdmsr(hp_msrswitch_msr(k));
            bool vendor_drop = hp_msrswitch_msr(k) == HP_MSRSWITCH_SYSENTER_ESP && v == (wrote[k] & 0xffffffff);
            if (v != wrote[k] && !vendor_drop) { /* model.h: the host checks which it was */
                hp_error_begin();
                con_puts("msrswitch: MSR ");
                con_put_hex(hp_msrswitch_msr(k));
                con_puts(" changed across hypercall ");
                con_put_dec(i);
                con_puts(": wrote ");
                con_put_hex(wrote[k]);
                con_puts(", read ");
                con_put_hex(v);
                hp_error_end(HP_EXIT_WORKLOAD_FAILED);
            }
            h = hp_fnv_u64(h, v);
        }
    }
    for (int k = 0; k < HP_MSRSWITCH_COUNT; k++) {
        wrmsr(hp_msrswitch_msr(k), saved[k]);
    }
    hp_switch_answers_print(&answers);
    return h;
}

/* ---- fpuswitch N ---- */

uint64_t hp_fpu_roundtrip(uint64_t pattern, uint32_t answers[2]); /* fpuswitch.S */

uint64_t workload_fpuswitch(uint64_t n)
{
    uint64_t h = HP_FNV_OFFSET, x = HP_FPUSWITCH_SEED;
    struct hp_switch_answers answers = {0, 0, 0, 0};
    enable_sse();
    for (uint64_t i = 0; i < n; i++) {
        x = hp_lcg_next(x);
        uint32_t got[2];
        hp_switch_answers_add(&answers, hp_hybrid_call(HYPANDA_HC_SWITCH_TO_TCG));
        uint64_t changed = hp_fpu_roundtrip(x, got);
        hp_switch_answers_add(&answers, got[0]);
        hp_switch_answers_add(&answers, got[1]);
        if (changed != 0) {
            hp_error_begin();
            con_puts("fpuswitch: floating-point state changed across the round trip ");
            con_put_dec(i);
            con_puts(", mask ");
            con_put_hex(changed);
            hp_error_end(HP_EXIT_WORKLOAD_FAILED);
        }
        h = hp_fnv_u64(h, x);
    }
    hp_switch_answers_print(&answers);
    return h;
}
