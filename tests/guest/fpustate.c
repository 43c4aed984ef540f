/*
 * fpustate N (model.h): the whole x87/SSE (and AVX) state across single
 * engine switches. Each step loads a state image, makes one switch
 * hypercall (fpustate.S) and compares what it saves right after with what
 * it loaded. The line
 *   FPUSTATE fxsave|xsave-avx
 * says which image format ran: XSAVE with the YMM registers when the CPU
 * has AVX and XSAVE, FXSAVE (x87 and SSE) otherwise. The SWITCHES line is
 * as for `switch`.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"
#include "console.h"
#include "model.h"
#include "workloads.h"

uint32_t hp_fpustate_call(uint32_t command, const void *in, void *out, uint64_t xsave); /* fpustate.S */

/* FXSAVE's layout (the first 512 bytes of XSAVE's), byte offsets. */
enum {
    FX_FCW = 0,
    FX_FSW = 2,
    FX_FTW = 4,
    FX_MXCSR = 24,
    FX_ST = 32,    /* 16 bytes each, ST(0) first */
    FX_XMM = 160,  /* 16 bytes each */
    XSAVE_HEADER = 512,
    AREA_SIZE = 1024,
};

static uint8_t in_area[AREA_SIZE] __attribute__((aligned(64)));
static uint8_t out_area[AREA_SIZE] __attribute__((aligned(64)));

static void put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static void zero(uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        p[i] = 0;
    }
}

static void pack(const struct hp_fpustate *s, uint8_t *a, uint32_t ymm_offset)
{
    zero(a, AREA_SIZE);
    put(a + FX_FCW, s->fcw, 2);
    put(a + FX_FSW, s->fsw, 2);
    put(a + FX_FTW, s->ftw, 1);
    put(a + FX_MXCSR, s->mxcsr, 4);
    for (int i = 0; i < 8; i++) {
        put(a + FX_ST + 16 * i, s->st[i][0], 8);
        put(a + FX_ST + 16 * i + 8, s->st[i][1], 2);
    }
    for (int i = 0; i < 16; i++) {
        put(a + FX_XMM + 16 * i, s->xmm[i][0], 8);
        put(a + FX_XMM + 16 * i + 8, s->xmm[i][1], 8);
    }
    if (ymm_offset != 0) {
        put(a + XSAVE_HEADER, 7, 8); /* XSTATE_BV: x87, SSE, AVX */
        for (int i = 0; i < 16; i++) {
            put(a + ymm_offset + 16 * i, s->ymmh[i][0], 8);
            put(a + ymm_offset + 16 * i + 8, s->ymmh[i][1], 8);
        }
    }
}

static void unpack(const uint8_t *a, struct hp_fpustate *s, uint32_t ymm_offset)
{
    s->fcw = (uint16_t)get(a + FX_FCW, 2);
    s->fsw = (uint16_t)get(a + FX_FSW, 2);
    s->ftw = (uint8_t)get(a + FX_FTW, 1);
    s->mxcsr = (uint32_t)get(a + FX_MXCSR, 4);
    for (int i = 0; i < 8; i++) {
        s->st[i][0] = get(a + FX_ST + 16 * i, 8);
        s->st[i][1] = get(a + FX_ST + 16 * i + 8, 2);
    }
    for (int i = 0; i < 16; i++) {
        s->xmm[i][0] = get(a + FX_XMM + 16 * i, 8);
        s->xmm[i][1] = get(a + FX_XMM + 16 * i + 8, 8);
        s->ymmh[i][0] = ymm_offset ? get(a + ymm_offset + 16 * i, 8) : 0;
        s->ymmh[i][1] = ymm_offset ? get(a + ymm_offset + 16 * i + 8, 8) : 0;
    }
}

static uint64_t differences(const struct hp_fpustate *a, const struct hp_fpustate *b, bool ymm)
{
    uint64_t mask = 0;
    mask |= (uint64_t)(a->fcw != b->fcw) << HP_FPUSTATE_FCW;
    mask |= (uint64_t)(a->fsw != b->fsw) << HP_FPUSTATE_FSW;
    mask |= (uint64_t)(a->ftw != b->ftw) << HP_FPUSTATE_FTW;
    mask |= (uint64_t)(a->mxcsr != b->mxcsr) << HP_FPUSTATE_MXCSR;
    for (int i = 0; i < 8; i++) {
        bool same = a->st[i][0] == b->st[i][0] && a->st[i][1] == b->st[i][1];
        mask |= (uint64_t)!same << (HP_FPUSTATE_ST0 + i);
    }
    for (int i = 0; i < 16; i++) {
        bool same = a->xmm[i][0] == b->xmm[i][0] && a->xmm[i][1] == b->xmm[i][1];
        mask |= (uint64_t)!same << (HP_FPUSTATE_XMM0 + i);
        same = !ymm || (a->ymmh[i][0] == b->ymmh[i][0] && a->ymmh[i][1] == b->ymmh[i][1]);
        mask |= (uint64_t)!same << (HP_FPUSTATE_YMM0 + i);
    }
    return mask;
}

/* Turns XSAVE and AVX on (CR4.OSXSAVE, XCR0 = x87|SSE|AVX) when the CPU
 * has both; returns where XSAVE keeps the YMM upper halves, or 0. */
static uint32_t enable_avx(void)
{
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    if (!(c & (1u << 26)) || !(c & (1u << 28))) { /* XSAVE, AVX */
        return 0;
    }
    uint64_t cr4;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    cr4 |= 1u << 18;
    __asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
    __asm__ volatile("xsetbv" : : "c"(0), "a"(7), "d"(0));
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0xd), "c"(2));
    return b + 256 <= AREA_SIZE ? b : 0;
}

uint64_t workload_fpustate(uint64_t n)
{
    uint64_t h = HP_FNV_OFFSET, x = HP_FPUSTATE_SEED;
    struct hp_switch_answers answers = {0, 0, 0, 0};
    enable_sse();
    uint32_t ymm_offset = enable_avx();
    con_puts(ymm_offset ? "FPUSTATE xsave-avx\n" : "FPUSTATE fxsave\n");
    for (uint64_t i = 0; i < n; i++) {
        struct hp_fpustate want, got;
        x = hp_fpustate_make(&want, x);
        pack(&want, in_area, ymm_offset);
        zero(out_area, AREA_SIZE);
        uint32_t result = hp_fpustate_call(hp_switch_command(i), in_area, out_area, ymm_offset != 0);
        unpack(out_area, &got, ymm_offset);
        uint64_t changed = differences(&want, &got, ymm_offset != 0);
        if (changed != 0) {
            hp_error_begin();
            con_puts("fpustate: state changed across hypercall ");
            con_put_dec(i);
            con_puts(", mask ");
            con_put_hex(changed);
            hp_error_end(HP_EXIT_WORKLOAD_FAILED);
        }
        hp_switch_answers_add(&answers, result);
        h = hp_fpustate_hash(h, &got);
    }
    hp_switch_answers_print(&answers);
    return h;
}
