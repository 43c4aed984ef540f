/*
 * The test guest's arithmetic, shared by the guest (which runs it on real
 * loads, stores, ports and system calls) and by the host-side tests (which
 * compute from it the exact value each RESULT line must carry). Only pure
 * functions and constants live here; what the guest does with them on the
 * machine is in the workload files.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HPTEST_MODEL_H
#define HPTEST_MODEL_H

#include <panda/hypercall.h>

#define HP_HYPERCALL_MAGIC 0x4879706e /* "Hypn" */
#define HP_FAULT_BASE 0x100000000     /* 4 GiB: the guest maps only below */
#define HP_FAULT_INSN_LENGTH 3

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

/* FNV-1a, 64-bit, folded one byte at a time: every checksum the guest
 * reports is this over a documented byte sequence. */
#define HP_FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define HP_FNV_PRIME UINT64_C(0x100000001b3)

static inline uint64_t hp_fnv_byte(uint64_t h, uint8_t b)
{
    return (h ^ b) * HP_FNV_PRIME;
}

/* Folds a 64-bit value in, least significant byte first. */
static inline uint64_t hp_fnv_u64(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h = hp_fnv_byte(h, (uint8_t)(v >> (8 * i)));
    }
    return h;
}

/* Knuth's MMIX linear congruential generator. */
static inline uint64_t hp_lcg_next(uint64_t x)
{
    return x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
}

/* --- count N --------------------------------------------------------------
 * The loop adds N, N-1, ..., 1: the value is N(N+1)/2 modulo 2^64. */
static inline uint64_t hp_count_value(uint64_t n)
{
    /* One of n, n+1 is even; halve it first so the product wraps like the
     * guest's 64-bit adds do. */
    return (n % 2 == 0) ? (n / 2) * (n + 1) : n * ((n + 1) / 2);
}

/* Executed guest instructions from the first instruction of hp_count_loop to
 * its ret, inclusive (see count.S). */
static inline uint64_t hp_count_insns(uint64_t n)
{
    return 3 * n + 3;
}

/* --- patch N --------------------------------------------------------------
 * hp_patch_loop (entry.S): round i (the counter from n down to 1) adds the
 * counter's low byte, sign-extended, to a 32-bit sum. */
static inline uint64_t hp_patch_value(uint64_t n)
{
    uint32_t sum = 0;
    for (uint64_t i = n; i >= 1; i--) {
        sum += (uint32_t)(int32_t)(int8_t)(uint8_t)i;
    }
    return sum;
}
/* Retired instructions from hp_patch_loop's first instruction to its ret,
 * and the rounds QEMU runs the patching store twice. */
static inline uint64_t hp_patch_insns(uint64_t n) { return 4 * n + 3; }

/* --- mem N ----------------------------------------------------------------
 * A 64 KiB buffer, zeroed first. Iteration i (0-based) advances the LCG
 * state x, then stores the low `size` bytes of x at offset (x >> 33) & 0xfff8
 * and loads `size` bytes (zero-extended) from offset (x >> 17) & 0xfff8,
 * where size = 1 << (i & 3). The checksum folds every loaded value. */
#define HP_MEM_BUFFER_SIZE 0x10000u
#define HP_MEM_SEED UINT64_C(0x243f6a8885a308d3)

static inline uint32_t hp_mem_size(uint64_t i) { return 1u << (i & 3); }
static inline uint32_t hp_mem_store_offset(uint64_t x) { return (uint32_t)(x >> 33) & 0xfff8u; }
static inline uint32_t hp_mem_load_offset(uint64_t x) { return (uint32_t)(x >> 17) & 0xfff8u; }

/* --- user N ---------------------------------------------------------------
 * Ring-3 code makes N system calls; call i uses mechanism i % 3 (SYSCALL,
 * INT 0x80, SYSENTER), number 1 + i % 4, arguments (i, acc) where acc is the
 * user side's running value. The kernel folds (mechanism, number, a, b) of
 * every call into its log; the user folds every return value into acc as
 * acc = acc * 31 + ret. The workload's value is hp_fnv_u64(log, acc). */
enum hp_syscall_mechanism {
    HP_VIA_SYSCALL = 0,
    HP_VIA_INT80 = 1,
    HP_VIA_SYSENTER = 2,
};

enum hp_syscall_number {
    HP_SYS_EXIT = 0,  /* leave ring 3 with a value; not counted */
    HP_SYS_ADD = 1,   /* a + b */
    HP_SYS_XOR = 2,   /* a ^ b */
    HP_SYS_MIX = 3,   /* a * 3 + b */
    HP_SYS_COUNT = 4, /* calls handled so far, this one included */
};

static inline uint64_t hp_syscall_result(uint64_t nr, uint64_t a, uint64_t b, uint64_t calls)
{
    switch (nr) {
    case HP_SYS_ADD:
        return a + b;
    case HP_SYS_XOR:
        return a ^ b;
    case HP_SYS_MIX:
        return a * 3 + b;
    case HP_SYS_COUNT:
        return calls;
    default:
        return UINT64_MAX; /* unknown number */
    }
}

static inline uint64_t hp_syscall_log(uint64_t log, uint64_t via, uint64_t nr, uint64_t a, uint64_t b)
{
    log = hp_fnv_u64(log, via);
    log = hp_fnv_u64(log, nr);
    log = hp_fnv_u64(log, a);
    return hp_fnv_u64(log, b);
}

/* --- io N -----------------------------------------------------------------
 * Iteration i writes, then reads back: the serial port's scratch register,
 * CMOS NVRAM byte 0x60 + i % 16, and the IOAPIC's redirection entry 23 (kept
 * masked); and reads the PCI vendor/device id of 00:00.0 and the IOAPIC's
 * version register's maximum-redirection-entry field. Before the loop it
 * reads the CMOS base-memory size (bytes 0x15, 0x16). Everything read is
 * folded into the checksum in that order. */
#define HP_IO_SCRATCH_PORT 0x3ff
#define HP_IO_CMOS_FIRST 0x60
#define HP_IO_IOAPIC_PIN 23

static inline uint8_t hp_io_scratch_value(uint64_t i) { return (uint8_t)(i * 29 + 7); }
static inline uint8_t hp_io_cmos_index(uint64_t i) { return (uint8_t)(HP_IO_CMOS_FIRST + i % 16); }
static inline uint8_t hp_io_cmos_value(uint64_t i) { return (uint8_t)(i * 113 + 61); }
/* Masked (bit 16), fixed delivery, vector 0x30..0x3f. */
static inline uint32_t hp_io_redir_value(uint64_t i) { return 0x10000u | (0x30u + (uint32_t)(i % 16)); }

/* --- timer N --------------------------------------------------------------
 * The LAPIC timer in periodic mode; the value is the number of timer
 * interrupts the guest took, which must be N. */
#define HP_TIMER_VECTOR 0x40

/* --- disk N ---------------------------------------------------------------
 * Reads N sectors from LBA 0 of the primary ATA master (PIO); the value is
 * FNV-1a over their bytes. */
#define HP_DISK_SECTOR 512u

/* --- diskdma N ------------------------------------------------------------
 * The same sectors and value as disk N, read with bus-master DMA (PIIX3
 * IDE); N is at most HP_DISKDMA_MAX (one 64 KiB region). */
#define HP_DISKDMA_MAX 128u

/* --- hypercall N ------------------------------------------------------------
 * hp_hypercall_loop (entry.S): CPUID i (0-based) has EAX = HP_HYPERCALL_MAGIC,
 * EBX = i, ECX = 3i + 1. The value is N, the CPUIDs executed. */
static inline uint64_t hp_hypercall_ebx(uint64_t i) { return i; }
static inline uint64_t hp_hypercall_ecx(uint64_t i) { return 3 * i + 1; }

/* --- fault N -----------------------------------------------------------------
 * hp_fault_loop (entry.S): load i (0-based) reads HP_FAULT_BASE + 4096 i, an
 * unmapped address: a page fault, which the guest skips. The value is FNV-1a
 * of the faulting addresses (CR2) in order. */
static inline uint64_t hp_fault_address(uint64_t i) { return HP_FAULT_BASE + 4096 * i; }

/* --- cross N -----------------------------------------------------------------
 * N times: an 8-byte store, then an 8-byte load, at 3 bytes before a page
 * boundary, so each access crosses it. Values from the LCG seeded with
 * HP_MEM_SEED; the value is FNV-1a of the loaded values. */
#define HP_CROSS_PAGE_OFFSET 0xffd

/* --- alias N -----------------------------------------------------------------
 * hp_count_loop(N) run twice: at its own address, then at the same code
 * mapped a second time HP_ALIAS_OFFSET higher (PML4 entry 1 repeats entry
 * 0: the first 4 GiB again at 512 GiB). The value is the sum of both. */
#define HP_ALIAS_OFFSET UINT64_C(0x8000000000)

static inline uint64_t hp_alias_value(uint64_t n)
{
    return 2 * hp_count_value(n);
}

#endif /* __ASSEMBLER__ */

/* --- switch N ----------------------------------------------------------------
 * N steps. Step i (0-based) fills a 256-byte buffer with 32 LCG values
 * (seeded with HP_SWITCH_SEED, continuing across steps), then makes a
 * Hypanda hypercall, SWITCH_TO_TCG for even i and SWITCH_TO_KVM for odd i,
 * with the last LCG value as the register pattern (switch.S), checks that
 * no register changed and that the TSC did not go back, then folds the
 * buffer's bytes into FNV-1a. The value is that hash: the same whether the
 * switches happen or not. The guest also prints "SWITCHES k": how many of
 * the hypercalls answered HYPANDA_HC_OK. */
#define HP_SWITCH_PORT HYPANDA_HC_PORT
#define HP_SWITCH_MAGIC HYPANDA_HC_MAGIC
#define HP_SWITCH_SEED 0x5357495443480001 /* "SWITCH" 1 */
#define HP_SWITCH_BUFFER 256
/* Bits of hp_switch_call's `changed`. */
#define HP_SWITCH_CHANGED_R8 0
#define HP_SWITCH_CHANGED_R9 1
#define HP_SWITCH_CHANGED_R10 2
#define HP_SWITCH_CHANGED_R12 3
#define HP_SWITCH_CHANGED_R13 4
#define HP_SWITCH_CHANGED_R14 5
#define HP_SWITCH_CHANGED_R15 6
#define HP_SWITCH_CHANGED_RBP 7
#define HP_SWITCH_CHANGED_RSI 8
#define HP_SWITCH_CHANGED_RDI 9
/* bits 16..31: XMM0..XMM15 */
#define HP_SWITCH_CHANGED_ST0 32
#define HP_SWITCH_CHANGED_ST1 33

#ifndef __ASSEMBLER__
/* The switch hypercall of step i, here and in the other switching
 * workloads: SWITCH_TO_TCG for even i, SWITCH_TO_KVM for odd i. */
static inline uint32_t hp_switch_command(uint64_t i)
{
    return i % 2 == 0 ? HYPANDA_HC_SWITCH_TO_TCG : HYPANDA_HC_SWITCH_TO_KVM;
}

static inline uint64_t hp_switch_value(uint64_t n)
{
    uint64_t h = HP_FNV_OFFSET, x = HP_SWITCH_SEED;
    for (uint64_t i = 0; i < n; i++) {
        for (int j = 0; j < HP_SWITCH_BUFFER / 8; j++) {
            x = hp_lcg_next(x);
            h = hp_fnv_u64(h, x);
        }
    }
    return h;
}
#endif

/* --- window N ----------------------------------------------------------------
 * hp_count_loop(N); SWITCH_TO_TCG; hp_count_loop(N) and N CPUID hypercalls
 * (hp_hypercall_loop); SWITCH_TO_KVM; hp_count_loop(N). In hybrid mode the
 * middle part, and only it, runs in TCG, where plugins see it. The guest
 * also prints "WINDOW k": how many of the two hypercalls answered OK. */
#define HP_WINDOW_COUNT_LOOPS 3
#ifndef __ASSEMBLER__
static inline uint64_t hp_window_value(uint64_t n)
{
    return HP_WINDOW_COUNT_LOOPS * hp_count_value(n) + n;
}
#endif

/* --- bracket N ---------------------------------------------------------------
 * BEGIN_RECORD hypercall, the timer workload's N ticks and hp_count_loop(N),
 * END_RECORD hypercall: the region the host records (hypanda-hypercall
 * allow=record,record=DIR). Prints "BRACKET <begin answer> <end answer>"
 * (hex) and returns hp_count_value(N). */

/* --- timerswitch N ----------------------------------------------------------
 * The LAPIC timer as in `timer` but one-shot, re-armed by each tick
 * (lapic.h), on vector HP_TIMERSWITCH_VECTOR, whose handler returns
 * without IRETQ (written for an earlier machine's KVM); one switch hypercall for each multiple of HP_TIMERSWITCH_EVERY
 * below N ((N-1)/2 of them), alternating SWITCH_TO_TCG and SWITCH_TO_KVM,
 * however the ticks fall. The value is the number of ticks taken, N; the
 * SWITCHES line is as for `switch`. */
#define HP_TIMERSWITCH_VECTOR 0x41
#define HP_TIMERSWITCH_EVERY 2

/* --- switchlat N ------------------------------------------------------------
 * N switch hypercalls, alternating SWITCH_TO_TCG and SWITCH_TO_KVM, each
 * timed with RDTSC from before the hypercall to the first instruction
 * after it (in the other engine when switching works). After each switch
 * to TCG the 1000-step count loop is timed twice: its first run includes
 * translating it, the second runs translated code. Then the guest moves to
 * TCG to sort, and prints, in TSC cycles:
 *   SWITCHLAT to-tcg <median> <p99> to-kvm <median> <p99>
 *             first-loop <median> warm-loop <median>
 * The value is N. */
#define HP_SWITCHLAT_MAX 20000
#define HP_SWITCHLAT_LOOP 1000

/* --- switchto E --------------------------------------------------------------
 * One switch hypercall to engine E (HYPANDA_ENGINE_TCG = 1 or
 * HYPANDA_ENGINE_KVM = 2); the value is its answer: HYPANDA_HC_OK in hybrid
 * mode, HYPANDA_HC_ERR_UNAVAILABLE without it, HYPANDA_HC_NO_DEVICE without
 * the device. For command lines like "count 10 switchto 1 user 8 switchto 2". */

/* --- smc N --------------------------------------------------------------------
 * Code the guest rewrites while in another engine: N rounds of (write
 * "mov $value, %eax; ret" into a code buffer, value = LCG step i from
 * HP_SMC_SEED; SWITCH_TO_TCG; call the buffer; SWITCH_TO_KVM). Under KVM
 * the write happens natively, so TCG must not run a stale translation of
 * the previous round's code. The value is FNV-1a over what each call
 * returned. */
#define HP_SMC_SEED 0x534d430000000001 /* "SMC" 1 */
#ifndef __ASSEMBLER__
static inline uint32_t hp_smc_round_value(uint64_t x) { return (uint32_t)(x >> 32); }
static inline uint64_t hp_smc_value(uint64_t n)
{
    uint64_t h = HP_FNV_OFFSET, x = HP_SMC_SEED;
    for (uint64_t i = 0; i < n; i++) {
        x = hp_lcg_next(x);
        h = hp_fnv_u64(h, hp_smc_round_value(x));
    }
    return h;
}
#endif

/* --- msrswitch N -------------------------------------------------------------
 * N steps: write step-specific values into the MSRs below, make a switch
 * hypercall (alternately to TCG and KVM), read them back (an ERROR line names
 * any that changed), fold the values read into FNV-1a. The original values
 * are restored at the end. hp_msrswitch_msr(k) and hp_msrswitch_write(k, x)
 * give MSR k and the value written from LCG value x (valid for the MSR:
 * canonical addresses, SFMASK's low half, a 16-bit selector, PAT memory
 * types WB/WT/UC-/UC).
 *
 * SYSENTER_ESP is where vendors differ. Intel CPUs, and TCG for any vendor,
 * keep all 64 bits. AMD CPUs keep the low 32, and so does KVM on AMD for a
 * guest whose vendor is not Intel: both the guest's own write under KVM
 * (then carried to TCG by a switch) and the value a switch to KVM hands it.
 * The guest accepts either and folds what it read; the model takes whether
 * every step's value loses the upper half (`upper_dropped`). */
#define HP_MSRSWITCH_SYSENTER_ESP 0x175
#define HP_MSRSWITCH_SEED 0x4d5352530000001 /* "MSRS" 1 */
#define HP_MSRSWITCH_COUNT 10
#ifndef __ASSEMBLER__
static inline uint32_t hp_msrswitch_msr(int k)
{
    static const uint32_t msrs[HP_MSRSWITCH_COUNT] = {
        0xc0000100, /* FS base */
        0xc0000101, /* GS base */
        0xc0000102, /* kernel GS base */
        0xc0000081, /* STAR */
        0xc0000082, /* LSTAR */
        0xc0000083, /* CSTAR */
        0xc0000084, /* SFMASK */
        0x174,      /* SYSENTER_CS */
        0x175,      /* SYSENTER_ESP */
        0x277,      /* PAT */
    };
    return msrs[k];
}
static inline uint64_t hp_msrswitch_write(int k, uint64_t x)
{
    switch (hp_msrswitch_msr(k)) {
    case 0xc0000084: return x & 0xffffffff;
    case 0x174: return x & 0xffff;
    case 0xc0000081: return x;
    case 0x277: {
        static const uint8_t types[4] = {6, 4, 7, 0}; /* WB, WT, UC-, UC */
        uint64_t pat = 0;
        for (int b = 0; b < 8; b++) {
            pat |= (uint64_t)types[(x >> (2 * b)) & 3] << (8 * b);
        }
        return pat;
    }
    default: return (uint64_t)((int64_t)(x << 16) >> 16); /* canonical */
    }
}
static inline uint64_t hp_msrswitch_value(uint64_t n, bool upper_dropped)
{
    uint64_t h = HP_FNV_OFFSET, x = HP_MSRSWITCH_SEED;
    for (uint64_t i = 0; i < n; i++) {
        for (int k = 0; k < HP_MSRSWITCH_COUNT; k++) {
            x = hp_lcg_next(x);
            uint64_t v = hp_msrswitch_write(k, x);
            if (hp_msrswitch_msr(k) == HP_MSRSWITCH_SYSENTER_ESP && upper_dropped) {
                v &= 0xffffffff;
            }
            h = hp_fnv_u64(h, v);
        }
    }
    return h;
}
#endif

/* --- fpuswitch N ------------------------------------------------------------
 * N steps, each from TCG: XMM0-15, one x87 register and round-up modes in
 * MXCSR and the x87 control word set; SWITCH_TO_KVM and SWITCH_TO_TCG with
 * no floating-point instruction between; all checked back in TCG, with a
 * conversion of 2.2 in each unit that must round up to 3 (fpuswitch.S). The
 * pattern of step i is LCG step i from HP_FPUSWITCH_SEED; the value is
 * FNV-1a over the patterns. The SWITCHES line counts 3 hypercalls a step
 * (SWITCH_TO_TCG first, then the two above). */
#define HP_FPUSWITCH_SEED 0x4650555300000001 /* "FPUS" 1 */
#define HP_FPUSWITCH_FCW 0x0b7f          /* x87: round up, extended precision, masked */
#define HP_FPUSWITCH_MXCSR_VALUE 0x5f80  /* SSE: round up, masked */
/* Bits of hp_fpu_roundtrip's result besides XMMn (16 + n) and ST0. */
#define HP_FPUSWITCH_MXCSR 40
#define HP_FPUSWITCH_ROUND_SSE 41
#define HP_FPUSWITCH_FCW_BIT 42
#define HP_FPUSWITCH_ROUND_X87 43
#ifndef __ASSEMBLER__
static inline uint64_t hp_fpuswitch_value(uint64_t n)
{
    uint64_t h = HP_FNV_OFFSET, x = HP_FPUSWITCH_SEED;
    for (uint64_t i = 0; i < n; i++) {
        x = hp_lcg_next(x);
        h = hp_fnv_u64(h, x);
    }
    return h;
}
#endif

/* --- fpustate N -------------------------------------------------------------
 * N steps, each a whole x87/SSE state loaded with FXRSTOR (XRSTOR with YMM
 * too where the CPU has AVX), then one switch hypercall (SWITCH_TO_TCG for
 * even steps, SWITCH_TO_KVM for odd ones: hp_switch_command), then saved
 * with FXSAVE (XSAVE) and compared field by field. One switch each way is
 * enough to see a transfer bug: the state has eight distinct x87 registers,
 * a non-zero stack top, some empty tags, condition codes, masked exception
 * flags, non-default rounding and precision in FCW and MXCSR, and every XMM
 * and YMM register distinct. State of step i comes from the LCG seeded with
 * HP_FPUSTATE_SEED (hp_fpustate_make); the value is FNV-1a over the fields
 * hp_fpustate_hash folds, as read back. YMM, compared when present, is not
 * in the value, so it is the same with and without AVX. FOP, FIP and FDP
 * are not compared: QEMU 7.2's TCG does not model them (its FXSAVE writes
 * zero pointers and leaves FOP's bytes as they were). */
#define HP_FPUSTATE_SEED 0x4650535400000001 /* "FPST" 1 */
/* Bits of the mask in the error line "fpustate: state changed across
 * hypercall I, mask M". */
#define HP_FPUSTATE_FCW 0
#define HP_FPUSTATE_FSW 1
#define HP_FPUSTATE_FTW 2
#define HP_FPUSTATE_MXCSR 3
#define HP_FPUSTATE_ST0 8   /* ST(i): bit 8 + i */
#define HP_FPUSTATE_XMM0 16 /* XMMi: bit 16 + i */
#define HP_FPUSTATE_YMM0 32 /* upper half of YMMi: bit 32 + i */
#ifndef __ASSEMBLER__
struct hp_fpustate {
    uint16_t fcw, fsw;
    uint8_t ftw;              /* FXSAVE's abridged tag byte: bit i set = physical register i in use */
    uint32_t mxcsr;
    uint64_t st[8][2];        /* ST(i): significand, then sign and exponent (16 bits) */
    uint64_t xmm[16][2];
    uint64_t ymmh[16][2];     /* bits 128-255 of YMMi */
};

/* Fills `s` from the LCG state `x` and returns the new state. Every value
 * is one the architecture loads without a fault: FCW with all exceptions
 * masked and a defined precision, FSW without the error summary and with
 * TOP 1-7, MXCSR with all exceptions masked and no reserved bit. */
static inline uint64_t hp_fpustate_make(struct hp_fpustate *s, uint64_t x)
{
    static const uint16_t precision[3] = {0x000, 0x200, 0x300}; /* single, double, extended */
    x = hp_lcg_next(x);
    s->fcw = (uint16_t)(0x7f | precision[(x >> 32) % 3] | (((x >> 40) & 3) << 10));
    s->fsw = (uint16_t)(((x >> 8) & 0x477f) | ((1 + (x >> 48) % 7) << 11));
    s->ftw = (uint8_t)(x >> 24);
    s->mxcsr = 0x1f80 | (uint32_t)((x >> 56) & 0x7f) | (uint32_t)(((x >> 20) & 7) << 13);
    for (int i = 0; i < 8; i++) {
        x = hp_lcg_next(x);
        s->st[i][0] = x;
        s->st[i][1] = (x >> 48) ^ (uint64_t)i;
    }
    for (int i = 0; i < 16; i++) {
        for (int k = 0; k < 2; k++) {
            x = hp_lcg_next(x);
            s->xmm[i][k] = x;
            s->ymmh[i][k] = ~x;
        }
    }
    return x;
}

static inline uint64_t hp_fpustate_hash(uint64_t h, const struct hp_fpustate *s)
{
    h = hp_fnv_u64(h, s->fcw);
    h = hp_fnv_u64(h, s->fsw);
    h = hp_fnv_u64(h, s->ftw);
    h = hp_fnv_u64(h, s->mxcsr);
    for (int i = 0; i < 8; i++) {
        h = hp_fnv_u64(h, s->st[i][0]);
        h = hp_fnv_u64(h, s->st[i][1]);
    }
    for (int i = 0; i < 16; i++) {
        h = hp_fnv_u64(h, s->xmm[i][0]);
        h = hp_fnv_u64(h, s->xmm[i][1]);
    }
    return h;
}

static inline uint64_t hp_fpustate_value(uint64_t n)
{
    uint64_t h = HP_FNV_OFFSET, x = HP_FPUSTATE_SEED;
    struct hp_fpustate s;
    for (uint64_t i = 0; i < n; i++) {
        x = hp_fpustate_make(&s, x);
        h = hp_fpustate_hash(h, &s);
    }
    return h;
}
#endif

/* --- taintflow N ---------------------------------------------------------
 * taintflow.S on N bytes (16..HP_TAINTFLOW_MAX): src[k] = hp_taintflow_input(k)
 * labelled k through the taint2 plugin's hypercall (CPUID with EAX =
 * HP_TAINT2_MAGIC, EBX = HP_TAINT2_LABEL, RCX = address, RDX = length,
 * RSI = first label), copied to dst by REP MOVSB, out[k] = dst[k] ^ 0x5a,
 * then out[0] = dst[0] + dst[N-1] and out[1] = dst[1] * dst[3]; a branch
 * on each dst[k] and a jump through a table indexed by dst[2]; dst[0..15]
 * copied with MOVDQU; a byte stored through an address computed from
 * dst[3]; dst[4] divided by dst[5] (DIV r/m8: quotient and remainder
 * stored, 2 bytes); dst, out, the copy, the 8-byte table and the division's
 * 2 bytes are queried (EBX = HP_TAINT2_QUERY). The value is FNV-1a of out.
 * (The inputs are never 0 for k < HP_TAINTFLOW_MAX: the divisor is not.) */
#define HP_TAINT2_MAGIC 0x746e7432 /* "2tnt" */
#define HP_TAINT2_LABEL 1
#define HP_TAINT2_QUERY 2
#define HP_TAINTFLOW_MAX 64
#define HP_TAINTFLOW_XOR 0x5a
#define HP_TAINTFLOW_CUT 0x80 /* the branch: JAE on dst[k] >= 0x80 */
#define HP_TAINTFLOW_MARK 0x77 /* stored at ptrs[dst[3] & 7] */
#define HP_TAINTBAD_LENGTH 0x200000 /* 2 MiB */
#ifndef __ASSEMBLER__
static inline uint8_t hp_taintflow_input(uint64_t k) { return (uint8_t)(k * 37 + 11); }
static inline uint64_t hp_taintflow_value(uint64_t n)
{
    uint64_t h = HP_FNV_OFFSET;
    for (uint64_t k = 0; k < n; k++) {
        uint8_t out = k == 0   ? (uint8_t)(hp_taintflow_input(0) + hp_taintflow_input(n - 1))
                      : k == 1 ? (uint8_t)(hp_taintflow_input(1) * hp_taintflow_input(3))
                               : (uint8_t)(hp_taintflow_input(k) ^ HP_TAINTFLOW_XOR);
        h = hp_fnv_byte(h, out);
    }
    return h;
}
#endif

#endif
