/*
 * The LLVM engine's lifter: one translation block's TCG ops, as TCG left
 * them after generating the block's host code, become one LLVM function
 *
 *     i64 @tbN(i8* env)
 *
 * that does what the host code does and returns what its exit_tb returns
 * (the TB pointer and exit number cpu_tb_exec expects, or 0).
 *
 * - Guest state stays in memory: a TCG global is a load from, or a store
 *   to, its place in CPUArchState at every use, so helpers, callbacks and
 *   faults always see the state TCG would have written back. Other temps
 *   are allocas (promoted to SSA values by mem2reg).
 * - goto_tb returns the block TCG linked at that exit, if it has an LLVM
 *   function, for hypanda_llvm_exec to run next (linked to itself, it
 *   branches back to its own start); goto_ptr returns the block the lookup
 *   helper found.
 * - Each insn_start stores the instruction's number in the block in
 *   CPUState::hypanda_llvm_insn, which is what a fault inside the block is
 *   unwound to (engine.c) instead of a host return address.
 * - Marks for passes (metadata, <panda/llvm_pass.h>): the block's start
 *   (where a run of the block begins, also when it loops to itself) is the
 *   store of its TB pointer, carrying !hypanda.block; the insn_start store
 *   carries !hypanda.insn !{i64 guest pc} (and is volatile, so it stays);
 *   a guest memory access (the softmmu helper call, or the linux-user load
 *   or store) carries !hypanda.load or !hypanda.store (in linux-user with
 *   the guest_base its pointer adds to the guest address); the branch of a TCG
 *   brcond in an instruction (not the block's exit-request check) carries
 *   !hypanda.branch !{blockaddress of the brcond's label}.
 * - Guest memory: the system emulator calls the softmmu load/store helpers
 *   TCG's slow path calls (no QEMU-plugin or Hypanda report of their own:
 *   the ops around the access carry those); linux-user accesses
 *   guest_base + address directly, and a fault there is unwound like TCG's.
 * - Vector ops are never lifted: while the engine is on, TCG is told the
 *   host has no vector unit (engine.c), so gvec expands to helper calls.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/exec-all.h"
#include "tcg/tcg.h"
#include "tcg/tcg-ldst.h"
#include "tcg/tcg-internal.h"

#include <llvm-c/Core.h>

#include "hypanda/llvm/engine.h"
#include "hypanda/llvm/jit.h"
#include "hypanda/llvm/lift.h"
#include "hypanda/tcg-instrument/qemu_hooks.h"

typedef struct Lifter {
    TCGContext *s;
    TranslationBlock *tb;
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;       /* the ops */
    LLVMBuilderRef entry;   /* allocas, at the top of the entry block */
    LLVMValueRef fn;
    LLVMBasicBlockRef body; /* the block's start, after the allocas */
    LLVMValueRef env;       /* i8* */
    LLVMTypeRef i1, i8, i16, i32, i64, i128, p8, vd;
    LLVMValueRef *slots;    /* per temp, created on first use */
    LLVMBasicBlockRef *labels;
    bool helpers;           /* call helpers' bitcode where the JIT has it */
    int insn;               /* number of the current instruction */
    bool in_insn;           /* past the first insn_start */
    unsigned md_insn, md_load, md_store, md_branch, md_block;  /* metadata kinds */
    const char *op_name;    /* of the op being lifted, for errors */
    char error[160];
} Lifter;

static bool fail(Lifter *L, const char *what, const char *detail)
{
    if (L->error[0] == '\0') {
        snprintf(L->error, sizeof(L->error), "%s%s%s", what, detail ? " " : "", detail ? detail : "");
    }
    return false;
}

static LLVMTypeRef ity(Lifter *L, TCGType t)
{
    return t == TCG_TYPE_I32 ? L->i32 : L->i64;
}

static LLVMValueRef cint(LLVMTypeRef t, uint64_t v)
{
    return LLVMConstInt(t, v, false);
}

/* i8* env + offset, cast to a pointer to `t`. */
static LLVMValueRef env_ptr(Lifter *L, intptr_t offset, LLVMTypeRef t)
{
    LLVMValueRef off = cint(L->i64, (uint64_t)offset);
    LLVMValueRef p = LLVMBuildInBoundsGEP2(L->b, L->i8, L->env, &off, 1, "");
    return LLVMBuildBitCast(L->b, p, LLVMPointerType(t, 0), "");
}

static LLVMValueRef temp_value(Lifter *L, TCGTemp *ts);

/* Where a memory-backed temp (a global) lives. */
static LLVMValueRef global_ptr(Lifter *L, TCGTemp *ts, LLVMTypeRef t)
{
    TCGTemp *base = ts->mem_base;
    if (base->kind == TEMP_FIXED) {
        return env_ptr(L, ts->mem_offset, t);
    }
    LLVMValueRef a = LLVMBuildAdd(L->b, temp_value(L, base), cint(L->i64, (uint64_t)ts->mem_offset), "");
    return LLVMBuildIntToPtr(L->b, a, LLVMPointerType(t, 0), "");
}

static LLVMValueRef slot(Lifter *L, TCGTemp *ts)
{
    size_t i = temp_idx(ts);
    if (L->slots[i] == NULL) {
        L->slots[i] = LLVMBuildAlloca(L->entry, ity(L, ts->base_type), "");
    }
    return L->slots[i];
}

static LLVMValueRef temp_value(Lifter *L, TCGTemp *ts)
{
    LLVMTypeRef t = ity(L, ts->type);
    switch (ts->kind) {
    case TEMP_CONST:
        return cint(t, (uint64_t)ts->val);
    case TEMP_FIXED:
        /* The only fixed temp of a 64-bit host's TCG is env. */
        return LLVMBuildPtrToInt(L->b, L->env, L->i64, "");
    case TEMP_GLOBAL:
        return LLVMBuildLoad2(L->b, t, global_ptr(L, ts, t), "");
    default:
        return LLVMBuildLoad2(L->b, t, slot(L, ts), "");
    }
}

static LLVMValueRef in(Lifter *L, TCGArg a)
{
    return temp_value(L, arg_temp(a));
}

/* An operand as the op reads it: a 32-bit op may read a 64-bit temp (TCG's
 * extrl on a 64-bit host is a mov_i32 of the 64-bit temp), meaning its low
 * half. */
static LLVMValueRef in_as(Lifter *L, TCGArg a, LLVMTypeRef t)
{
    LLVMValueRef v = in(L, a);
    LLVMTypeRef vt = LLVMTypeOf(v);
    if (vt == t) {
        return v;
    }
    return LLVMGetIntTypeWidth(vt) > LLVMGetIntTypeWidth(t) ? LLVMBuildTrunc(L->b, v, t, "")
                                                            : LLVMBuildZExt(L->b, v, t, "");
}

static void out(Lifter *L, TCGArg a, LLVMValueRef v)
{
    TCGTemp *ts = arg_temp(a);
    LLVMTypeRef t = ity(L, ts->type);
    if (LLVMTypeOf(v) != t) {
        /* an op's result in a temp of the other width: the low half
         * counts (upper bits are undefined to TCG) */
        v = LLVMGetIntTypeWidth(LLVMTypeOf(v)) > LLVMGetIntTypeWidth(t) ? LLVMBuildTrunc(L->b, v, t, "")
                                                                        : LLVMBuildZExt(L->b, v, t, "");
    }
    switch (ts->kind) {
    case TEMP_GLOBAL:
        LLVMBuildStore(L->b, v, global_ptr(L, ts, t));
        break;
    case TEMP_CONST:
    case TEMP_FIXED:
        fail(L, "a TCG op writes a constant or fixed temp", NULL);
        break;
    default:
        LLVMBuildStore(L->b, v, slot(L, ts));
        break;
    }
}

static LLVMValueRef intrinsic(Lifter *L, const char *name, LLVMTypeRef t, LLVMValueRef *args, unsigned n)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(L->mod, id, &t, 1);
    LLVMTypeRef ft = LLVMIntrinsicGetType(L->ctx, id, &t, 1);
    return LLVMBuildCall2(L->b, ft, f, args, n, "");
}

/* A call to a C function at a fixed address. */
static LLVMValueRef call_at(Lifter *L, const void *fn, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n,
                            LLVMValueRef *args)
{
    LLVMTypeRef ft = LLVMFunctionType(ret, params, n, false);
    LLVMValueRef callee = LLVMConstIntToPtr(cint(L->i64, (uintptr_t)fn), LLVMPointerType(ft, 0));
    return LLVMBuildCall2(L->b, ft, callee, args, n, "");
}

/* Helper calls lifted so far: to the JIT's bitcode, to the emulator's. */
static uint64_t calls_to_jit, calls_to_emulator;

void hypanda_llvm_lift_counts(uint64_t *to_jit, uint64_t *to_emulator)
{
    *to_jit = calls_to_jit;
    *to_emulator = calls_to_emulator;
}

/* A call to a helper, by its symbol (so passes and llvm_trace see which):
 * the JIT resolves it to the helper's bitcode when the helpers are in the
 * JIT and it has that one, to the emulator's function `fn` otherwise. */
static LLVMValueRef call_helper(Lifter *L, const char *symbol, const void *fn, LLVMTypeRef ret, LLVMTypeRef *params,
                                unsigned n, LLVMValueRef *args)
{
    if (L->helpers && hypanda_jit_helper_in_jit(symbol)) {
        calls_to_jit++;
    } else {
        calls_to_emulator++;
    }
    hypanda_jit_native(symbol, fn);
    LLVMTypeRef ft = LLVMFunctionType(ret, params, n, false);
    LLVMValueRef callee = LLVMGetNamedFunction(L->mod, symbol);
    if (callee == NULL) {
        callee = LLVMAddFunction(L->mod, symbol, ft);
    }
    return LLVMBuildCall2(L->b, ft, callee, args, n, "");
}

/* Attaches metadata `kind` to `inst`, holding `value` if not NULL. */
static void mark(Lifter *L, LLVMValueRef inst, unsigned kind, LLVMValueRef value)
{
    LLVMSetMetadata(inst, kind, LLVMMDNodeInContext(L->ctx, value ? &value : NULL, value ? 1 : 0));
}

static LLVMBasicBlockRef label_block(Lifter *L, TCGLabel *l)
{
    if (L->labels[l->id] == NULL) {
        /* named, so that !hypanda.branch's blockaddress prints parseably */
        char name[16];
        snprintf(name, sizeof(name), "L%d", l->id);
        L->labels[l->id] = LLVMAppendBasicBlockInContext(L->ctx, L->fn, name);
    }
    return L->labels[l->id];
}

/* After a terminator the ops up to the next label cannot run; they go to a
 * block of their own that nothing branches to (simplifycfg drops it). */
static void continue_after_terminator(Lifter *L)
{
    LLVMPositionBuilderAtEnd(L->b, LLVMAppendBasicBlockInContext(L->ctx, L->fn, ""));
}

static bool terminated(Lifter *L)
{
    return LLVMGetBasicBlockTerminator(LLVMGetInsertBlock(L->b)) != NULL;
}

static LLVMValueRef compare(Lifter *L, TCGCond c, LLVMValueRef a, LLVMValueRef b)
{
    LLVMIntPredicate p;
    switch (c) {
    case TCG_COND_ALWAYS: return cint(L->i1, 1);
    case TCG_COND_NEVER:  return cint(L->i1, 0);
    case TCG_COND_EQ:  p = LLVMIntEQ; break;
    case TCG_COND_NE:  p = LLVMIntNE; break;
    case TCG_COND_LT:  p = LLVMIntSLT; break;
    case TCG_COND_GE:  p = LLVMIntSGE; break;
    case TCG_COND_LE:  p = LLVMIntSLE; break;
    case TCG_COND_GT:  p = LLVMIntSGT; break;
    case TCG_COND_LTU: p = LLVMIntULT; break;
    case TCG_COND_GEU: p = LLVMIntUGE; break;
    case TCG_COND_LEU: p = LLVMIntULE; break;
    case TCG_COND_GTU: p = LLVMIntUGT; break;
    default:
        fail(L, "unknown TCG condition", NULL);
        return cint(L->i1, 0);
    }
    return LLVMBuildICmp(L->b, p, a, b, "");
}

/* TCG leaves a shift by the width or more undefined; LLVM makes it poison.
 * The count is masked, as the x86 host does. */
static LLVMValueRef shift_count(Lifter *L, LLVMValueRef n, unsigned bits)
{
    return LLVMBuildAnd(L->b, n, cint(LLVMTypeOf(n), bits - 1), "");
}

static uint64_t low_mask(unsigned len)
{
    return len >= 64 ? ~0ull : (1ull << len) - 1;
}

static LLVMValueRef lift_bswap(Lifter *L, LLVMValueRef a, unsigned width, unsigned flags, LLVMTypeRef t)
{
    LLVMTypeRef w = LLVMIntTypeInContext(L->ctx, width);
    LLVMValueRef v = LLVMBuildTrunc(L->b, a, w, "");
    if (width > 8) {
        v = intrinsic(L, "llvm.bswap", w, &v, 1);
    }
    if (w == t) {
        return v;
    }
    return (flags & TCG_BSWAP_OS) ? LLVMBuildSExt(L->b, v, t, "") : LLVMBuildZExt(L->b, v, t, "");
}

/* Double-width arithmetic for add2/sub2/mulu2/muls2/div2. */
static LLVMValueRef pair(Lifter *L, LLVMValueRef lo, LLVMValueRef hi, LLVMTypeRef wide, unsigned bits)
{
    LLVMValueRef l = LLVMBuildZExt(L->b, lo, wide, "");
    LLVMValueRef h = LLVMBuildShl(L->b, LLVMBuildZExt(L->b, hi, wide, ""), cint(wide, bits), "");
    return LLVMBuildOr(L->b, l, h, "");
}

static void split(Lifter *L, TCGArg lo, TCGArg hi, LLVMValueRef v, LLVMTypeRef t, unsigned bits)
{
    out(L, lo, LLVMBuildTrunc(L->b, v, t, ""));
    out(L, hi, LLVMBuildTrunc(L->b, LLVMBuildLShr(L->b, v, cint(LLVMTypeOf(v), bits), ""), t, ""));
}

#ifdef CONFIG_SOFTMMU
/* What the load/store helpers get as their return address: not an address
 * in TCG's code buffer, so the unwinder asks engine.c, which knows the
 * block and the instruction. */
static uintptr_t llvm_return_address(void)
{
    return (uintptr_t)hypanda_llvm_translate;
}

typedef struct MemHelper {
    const char *symbol;
    const void *fn;
} MemHelper;

#define MEM_HELPER(f) { #f, (const void *)f }

static MemHelper load_helper(MemOp mop)
{
    bool be = (mop & MO_BSWAP) != 0;
    static const MemHelper le[4] = { MEM_HELPER(helper_ret_ldub_mmu), MEM_HELPER(helper_le_lduw_mmu),
                                     MEM_HELPER(helper_le_ldul_mmu), MEM_HELPER(helper_le_ldq_mmu) };
    static const MemHelper bige[4] = { MEM_HELPER(helper_ret_ldub_mmu), MEM_HELPER(helper_be_lduw_mmu),
                                       MEM_HELPER(helper_be_ldul_mmu), MEM_HELPER(helper_be_ldq_mmu) };
    return (be ? bige : le)[mop & MO_SIZE];
}

static MemHelper store_helper(MemOp mop)
{
    bool be = (mop & MO_BSWAP) != 0;
    static const MemHelper le[4] = { MEM_HELPER(helper_ret_stb_mmu), MEM_HELPER(helper_le_stw_mmu),
                                     MEM_HELPER(helper_le_stl_mmu), MEM_HELPER(helper_le_stq_mmu) };
    static const MemHelper bige[4] = { MEM_HELPER(helper_ret_stb_mmu), MEM_HELPER(helper_be_stw_mmu),
                                       MEM_HELPER(helper_be_stl_mmu), MEM_HELPER(helper_be_stq_mmu) };
    return (be ? bige : le)[mop & MO_SIZE];
}
#else
/* linux-user: the host address of a guest address, after TCG's alignment
 * check (a misaligned access calls the helper that raises SIGBUS). */
static LLVMValueRef user_address(Lifter *L, LLVMValueRef addr, MemOp mop, bool store, LLVMTypeRef t)
{
    unsigned a_bits = get_alignment_bits(mop);
    if (a_bits > 0) {
        LLVMValueRef bad = LLVMBuildICmp(L->b, LLVMIntNE,
                                         LLVMBuildAnd(L->b, addr, cint(L->i64, low_mask(a_bits)), ""),
                                         cint(L->i64, 0), "");
        LLVMBasicBlockRef slow = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "");
        LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "");
        LLVMBuildCondBr(L->b, bad, slow, ok);
        LLVMPositionBuilderAtEnd(L->b, slow);
        LLVMTypeRef params[2] = { L->p8, L->i64 };
        LLVMValueRef args[2] = { L->env, addr };
        call_at(L, store ? (const void *)helper_unaligned_st : (const void *)helper_unaligned_ld, L->vd,
                params, 2, args);
        LLVMBuildUnreachable(L->b);
        LLVMPositionBuilderAtEnd(L->b, ok);
    }
    LLVMValueRef host = LLVMBuildAdd(L->b, addr, cint(L->i64, guest_base), "");
    return LLVMBuildIntToPtr(L->b, host, LLVMPointerType(t, 0), "");
}
#endif

static void lift_qemu_ld(Lifter *L, TCGOp *op, TCGType type)
{
    MemOpIdx oi = op->args[2];
    MemOp mop = get_memop(oi);
    unsigned size_bits = 8u << (mop & MO_SIZE);
    LLVMTypeRef w = LLVMIntTypeInContext(L->ctx, size_bits);
    LLVMValueRef addr = in_as(L, op->args[1], L->i64);
    LLVMValueRef v;
#ifdef CONFIG_SOFTMMU
    LLVMTypeRef params[4] = { L->p8, L->i64, L->i32, L->i64 };
    LLVMValueRef args[4] = { L->env, addr, cint(L->i32, oi), cint(L->i64, llvm_return_address()) };
    MemHelper h = load_helper(mop);
    v = call_helper(L, h.symbol, h.fn, L->i64, params, 4, args);
    mark(L, v, L->md_load, NULL);
    v = LLVMBuildTrunc(L->b, v, w, "");
#else
    LLVMValueRef p = user_address(L, addr, mop, false, w);
    v = LLVMBuildLoad2(L->b, w, p, "");
    LLVMSetAlignment(v, 1);
    LLVMSetVolatile(v, true);
    mark(L, v, L->md_load, cint(L->i64, guest_base));
    if ((mop & MO_BSWAP) && size_bits > 8) {
        v = intrinsic(L, "llvm.bswap", w, &v, 1);
    }
#endif
    LLVMTypeRef t = ity(L, type);
    if (w != t) {
        v = (mop & MO_SIGN) ? LLVMBuildSExt(L->b, v, t, "") : LLVMBuildZExt(L->b, v, t, "");
    }
    out(L, op->args[0], v);
}

static void lift_qemu_st(Lifter *L, TCGOp *op)
{
    MemOpIdx oi = op->args[2];
    MemOp mop = get_memop(oi);
    unsigned size_bits = 8u << (mop & MO_SIZE);
    LLVMTypeRef w = LLVMIntTypeInContext(L->ctx, size_bits);
    LLVMValueRef val = in(L, op->args[0]);
    LLVMValueRef addr = in_as(L, op->args[1], L->i64);
#ifdef CONFIG_SOFTMMU
    /* The helpers take the value in a 32-bit register below 64 bits. */
    LLVMTypeRef vt = size_bits == 64 ? L->i64 : L->i32;
    val = LLVMBuildZExt(L->b, LLVMBuildTrunc(L->b, val, w, ""), vt, "");
    LLVMTypeRef params[5] = { L->p8, L->i64, vt, L->i32, L->i64 };
    LLVMValueRef args[5] = { L->env, addr, val, cint(L->i32, oi), cint(L->i64, llvm_return_address()) };
    MemHelper h = store_helper(mop);
    mark(L, call_helper(L, h.symbol, h.fn, L->vd, params, 5, args), L->md_store, NULL);
#else
    LLVMValueRef v = LLVMBuildTrunc(L->b, val, w, "");
    if ((mop & MO_BSWAP) && size_bits > 8) {
        v = intrinsic(L, "llvm.bswap", w, &v, 1);
    }
    LLVMValueRef p = user_address(L, addr, mop, true, w);
    LLVMValueRef st = LLVMBuildStore(L->b, v, p);
    LLVMSetAlignment(st, 1);
    LLVMSetVolatile(st, true);
    mark(L, st, L->md_store, cint(L->i64, guest_base));
#endif
}

/* A helper's argument or return type, from TCG's 3-bit type codes. */
static LLVMTypeRef call_type(Lifter *L, unsigned code)
{
    switch (code) {
    case 0: return L->vd;
    case 2: case 3: return L->i32;
    case 4: case 5: case 6: return L->i64;
    default:
        fail(L, "a helper argument of unknown type", NULL);
        return L->i64;
    }
}

static void lift_call(Lifter *L, TCGOp *op)
{
    unsigned nb_o = TCGOP_CALLO(op), nb_i = TCGOP_CALLI(op);
    const TCGHelperInfo *info = tcg_call_info(op);
    void *func = tcg_call_func(op);
    bool replaced = false;
    if (strcmp(info->name, "lookup_tb_ptr") == 0) {
        func = (void *)hypanda_llvm_lookup;  /* same signature, LLVM's answer */
        replaced = true;
    }
    LLVMTypeRef params[MAX_OPC_PARAM_IARGS + 2];
    LLVMValueRef args[MAX_OPC_PARAM_IARGS + 2];
    if (nb_i > ARRAY_SIZE(params) || nb_o > 1) {
        fail(L, "a helper call with too many arguments or results:", info->name);
        return;
    }
    LLVMTypeRef ret = call_type(L, info->typemask & 7);
    for (unsigned i = 0; i < nb_i; i++) {
        params[i] = call_type(L, (info->typemask >> (3 * (i + 1))) & 7);
        TCGArg a = op->args[nb_o + i];
        if (a == TCG_CALL_DUMMY_ARG) {
            fail(L, "a helper call with a dummy argument:", info->name);
            return;
        }
        LLVMValueRef v = in(L, a);
        if (LLVMTypeOf(v) != params[i]) {
            v = LLVMGetIntTypeWidth(LLVMTypeOf(v)) > LLVMGetIntTypeWidth(params[i])
                ? LLVMBuildTrunc(L->b, v, params[i], "")
                : LLVMBuildZExt(L->b, v, params[i], "");
        }
        args[i] = v;
    }
    LLVMValueRef r;
    if (func == info->func) {
        char symbol[80];
        snprintf(symbol, sizeof(symbol), "helper_%s", info->name);
        r = call_helper(L, symbol, func, ret, params, nb_i, args);
    } else if (replaced) {
        r = call_helper(L, "hypanda_llvm_lookup", func, ret, params, nb_i, args);
    } else {
        /* Hypanda's direct calls to plugins' callbacks (hooks/translate.c):
         * the op names the helper whose calling convention it borrows. */
        r = call_at(L, func, ret, params, nb_i, args);
    }
    if (nb_o == 1) {
        TCGTemp *ts = arg_temp(op->args[0]);
        LLVMTypeRef t = ity(L, ts->type);
        if (LLVMTypeOf(r) != t) {
            r = LLVMGetIntTypeWidth(LLVMTypeOf(r)) > LLVMGetIntTypeWidth(t)
                ? LLVMBuildTrunc(L->b, r, t, "")
                : ((info->typemask & 7) == 3 ? LLVMBuildSExt(L->b, r, t, "") : LLVMBuildZExt(L->b, r, t, ""));
        }
        out(L, op->args[0], r);
    }
    if (info->flags & TCG_CALL_NO_RETURN) {
        LLVMBuildUnreachable(L->b);
        continue_after_terminator(L);
    }
}

/* A CPUState field's place relative to env. */
#define CPU_FIELD(f) ((intptr_t)(offsetof(ArchCPU, parent_obj) + offsetof(CPUState, f)) - \
                      (intptr_t)offsetof(ArchCPU, env))

/* The store of the instruction's number, for unwinding (engine.c); an
 * instruction's own (op not NULL) is marked with its guest PC. */
static void lift_insn_start(Lifter *L, TCGOp *op)
{
    LLVMValueRef st = LLVMBuildStore(L->b, cint(L->i32, (uint64_t)L->insn),
                                     env_ptr(L, CPU_FIELD(hypanda_llvm_insn), L->i32));
    if (op != NULL) {
        L->in_insn = true;
        LLVMSetVolatile(st, true);
        mark(L, st, L->md_insn, cint(L->i64, op->args[0]));
    }
    L->insn++;
}

/* Returns `tb` (an i64, 0 for none) to hypanda_llvm_exec as the block to
 * run next (tb | HYPANDA_LLVM_CHAIN); otherwise goes on after it. (A
 * return rather than a tail call: LLVM's fast instruction selector cannot
 * emit musttail calls, and a block with one cost a fifth more to compile.) */
static void chain_if_any(Lifter *L, LLVMValueRef tb)
{
    LLVMBasicBlockRef chain = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "");
    LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "");
    LLVMBuildCondBr(L->b, LLVMBuildICmp(L->b, LLVMIntNE, tb, cint(L->i64, 0), ""), chain, cont);
    LLVMPositionBuilderAtEnd(L->b, chain);
    LLVMBuildRet(L->b, LLVMBuildOr(L->b, tb, cint(L->i64, HYPANDA_LLVM_CHAIN), ""));
    LLVMPositionBuilderAtEnd(L->b, cont);
}

/* goto_tb n: where TCG's host code jumps to the block linked at exit n,
 * the lifted code has the dispatcher run that block's LLVM function, if it
 * has one; unlinked (or being invalidated: bit 0), it goes on to the
 * exit_tb that follows. */
static void lift_goto_tb(Lifter *L, unsigned n)
{
    LLVMValueRef slot = LLVMConstIntToPtr(cint(L->i64, (uintptr_t)&L->tb->jmp_dest[n]), LLVMPointerType(L->i64, 0));
    /* (written by other threads as blocks are linked and unlinked: an
     * aligned volatile load is the single read an atomic one would be, and
     * stays on LLVM's fast instruction selector) */
    LLVMValueRef dest = LLVMBuildLoad2(L->b, L->i64, slot, "");
    LLVMSetVolatile(dest, true);
    LLVMSetAlignment(dest, 8);
    LLVMValueRef linked = LLVMBuildICmp(L->b, LLVMIntEQ, LLVMBuildAnd(L->b, dest, cint(L->i64, 1), ""),
                                        cint(L->i64, 0), "");
    linked = LLVMBuildAnd(L->b, linked, LLVMBuildICmp(L->b, LLVMIntNE, dest, cint(L->i64, 0), ""), "");
    LLVMBasicBlockRef load = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "");
    LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "");
    LLVMBuildCondBr(L->b, linked, load, cont);
    LLVMPositionBuilderAtEnd(L->b, load);
    LLVMValueRef fn_slot = LLVMBuildIntToPtr(
        L->b, LLVMBuildAdd(L->b, dest, cint(L->i64, offsetof(TranslationBlock, hypanda_llvm_fn)), ""),
        LLVMPointerType(L->i64, 0), "");
    LLVMValueRef has_fn = LLVMBuildICmp(L->b, LLVMIntNE, LLVMBuildLoad2(L->b, L->i64, fn_slot, ""),
                                        cint(L->i64, 0), "");
    /* linked to itself (a loop in one block): round again in this function */
    LLVMBasicBlockRef other = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "");
    LLVMBuildCondBr(L->b, LLVMBuildICmp(L->b, LLVMIntEQ, dest, cint(L->i64, (uintptr_t)L->tb), ""), L->body, other);
    LLVMPositionBuilderAtEnd(L->b, other);
    chain_if_any(L, LLVMBuildSelect(L->b, has_fn, dest, cint(L->i64, 0), ""));
    LLVMBuildBr(L->b, cont);
    LLVMPositionBuilderAtEnd(L->b, cont);
}

/* ext{8,16,32}{s,u}: the operand's low bits (`from`), sign- or
 * zero-extended to `t`. */
static void lift_ext(Lifter *L, const TCGArg *a, LLVMTypeRef t, LLVMTypeRef from, bool sign)
{
    LLVMValueRef low = LLVMBuildTrunc(L->b, in_as(L, a[1], t), from, "");
    out(L, a[0], sign ? LLVMBuildSExt(L->b, low, t, "") : LLVMBuildZExt(L->b, low, t, ""));
}

#define BIN(OP, BUILD) \
    case INDEX_op_##OP##_i32: case INDEX_op_##OP##_i64: \
        out(L, a[0], BUILD(L->b, in_as(L, a[1], t), in_as(L, a[2], t), "")); break

static bool lift_op(Lifter *L, TCGOp *op)
{
    const TCGArg *a = op->args;
    TCGOpcode c = op->opc;
    const TCGOpDef *def = &tcg_op_defs[c];
    L->op_name = def->name;
    bool w64 = (def->flags & TCG_OPF_64BIT) != 0;
    LLVMTypeRef t = w64 ? L->i64 : L->i32;
    unsigned bits = w64 ? 64 : 32;
#define A(i) in_as(L, a[i], t)

    switch (c) {
    case INDEX_op_discard:
        break;
    case INDEX_op_set_label: {
        LLVMBasicBlockRef bb = label_block(L, arg_label(a[0]));
        if (!terminated(L)) {
            LLVMBuildBr(L->b, bb);
        }
        LLVMPositionBuilderAtEnd(L->b, bb);
        break;
    }
    case INDEX_op_br:
        LLVMBuildBr(L->b, label_block(L, arg_label(a[0])));
        continue_after_terminator(L);
        break;
    case INDEX_op_brcond_i32:
    case INDEX_op_brcond_i64: {
        LLVMValueRef cond = compare(L, a[2], A(0), A(1));
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "");
        LLVMBasicBlockRef to = label_block(L, arg_label(a[3]));
        LLVMValueRef br = LLVMBuildCondBr(L->b, cond, to, next);
        if (L->in_insn) {
            /* the branch's target, whichever successor optimisation leaves
             * it as (it inverts conditions and swaps successors) */
            mark(L, br, L->md_branch, LLVMBlockAddress(L->fn, to));
        }
        LLVMPositionBuilderAtEnd(L->b, next);
        break;
    }
    case INDEX_op_mb:
        LLVMBuildFence(L->b, LLVMAtomicOrderingSequentiallyConsistent, false, "");
        break;
    case INDEX_op_mov_i32:
    case INDEX_op_mov_i64:
        out(L, a[0], A(1));
        break;
    case INDEX_op_setcond_i32:
    case INDEX_op_setcond_i64:
        out(L, a[0], LLVMBuildZExt(L->b, compare(L, a[3], A(1), A(2)), t, ""));
        break;
    case INDEX_op_movcond_i32:
    case INDEX_op_movcond_i64:
        out(L, a[0], LLVMBuildSelect(L->b, compare(L, a[5], A(1), A(2)),
                                     A(3), A(4), ""));
        break;

    /* Host loads and stores relative to a pointer (env, mostly). */
    case INDEX_op_ld8u_i32: case INDEX_op_ld8u_i64:
    case INDEX_op_ld8s_i32: case INDEX_op_ld8s_i64:
    case INDEX_op_ld16u_i32: case INDEX_op_ld16u_i64:
    case INDEX_op_ld16s_i32: case INDEX_op_ld16s_i64:
    case INDEX_op_ld32u_i64: case INDEX_op_ld32s_i64:
    case INDEX_op_ld_i32: case INDEX_op_ld_i64: {
        unsigned width; bool sign = false;
        switch (c) {
        case INDEX_op_ld8s_i32: case INDEX_op_ld8s_i64: sign = true; /* fall through */
        case INDEX_op_ld8u_i32: case INDEX_op_ld8u_i64: width = 8; break;
        case INDEX_op_ld16s_i32: case INDEX_op_ld16s_i64: sign = true; /* fall through */
        case INDEX_op_ld16u_i32: case INDEX_op_ld16u_i64: width = 16; break;
        case INDEX_op_ld32s_i64: sign = true; /* fall through */
        case INDEX_op_ld32u_i64: case INDEX_op_ld_i32: width = 32; break;
        default: width = 64; break;
        }
        LLVMTypeRef w = LLVMIntTypeInContext(L->ctx, width);
        TCGTemp *base = arg_temp(a[1]);
        LLVMValueRef p = base->kind == TEMP_FIXED
            ? env_ptr(L, (intptr_t)a[2], w)
            : LLVMBuildIntToPtr(L->b, LLVMBuildAdd(L->b, in_as(L, a[1], L->i64), cint(L->i64, a[2]), ""),
                                LLVMPointerType(w, 0), "");
        LLVMValueRef v = LLVMBuildLoad2(L->b, w, p, "");
        LLVMSetAlignment(v, 1);
        if (w != t) {
            v = sign ? LLVMBuildSExt(L->b, v, t, "") : LLVMBuildZExt(L->b, v, t, "");
        }
        out(L, a[0], v);
        break;
    }
    case INDEX_op_st8_i32: case INDEX_op_st8_i64:
    case INDEX_op_st16_i32: case INDEX_op_st16_i64:
    case INDEX_op_st32_i64: case INDEX_op_st_i32: case INDEX_op_st_i64: {
        unsigned width = (c == INDEX_op_st8_i32 || c == INDEX_op_st8_i64) ? 8
            : (c == INDEX_op_st16_i32 || c == INDEX_op_st16_i64) ? 16
            : (c == INDEX_op_st_i64) ? 64 : 32;
        LLVMTypeRef w = LLVMIntTypeInContext(L->ctx, width);
        TCGTemp *base = arg_temp(a[1]);
        LLVMValueRef p = base->kind == TEMP_FIXED
            ? env_ptr(L, (intptr_t)a[2], w)
            : LLVMBuildIntToPtr(L->b, LLVMBuildAdd(L->b, in_as(L, a[1], L->i64), cint(L->i64, a[2]), ""),
                                LLVMPointerType(w, 0), "");
        LLVMValueRef st = LLVMBuildStore(L->b, LLVMBuildTrunc(L->b, A(0), w, ""), p);
        LLVMSetAlignment(st, 1);
        break;
    }

    BIN(add, LLVMBuildAdd);
    BIN(sub, LLVMBuildSub);
    BIN(mul, LLVMBuildMul);
    BIN(div, LLVMBuildSDiv);
    BIN(divu, LLVMBuildUDiv);
    BIN(rem, LLVMBuildSRem);
    BIN(remu, LLVMBuildURem);
    BIN(and, LLVMBuildAnd);
    BIN(or, LLVMBuildOr);
    BIN(xor, LLVMBuildXor);

    case INDEX_op_andc_i32: case INDEX_op_andc_i64:
        out(L, a[0], LLVMBuildAnd(L->b, A(1), LLVMBuildNot(L->b, A(2), ""), ""));
        break;
    case INDEX_op_orc_i32: case INDEX_op_orc_i64:
        out(L, a[0], LLVMBuildOr(L->b, A(1), LLVMBuildNot(L->b, A(2), ""), ""));
        break;
    case INDEX_op_eqv_i32: case INDEX_op_eqv_i64:
        out(L, a[0], LLVMBuildNot(L->b, LLVMBuildXor(L->b, A(1), A(2), ""), ""));
        break;
    case INDEX_op_nand_i32: case INDEX_op_nand_i64:
        out(L, a[0], LLVMBuildNot(L->b, LLVMBuildAnd(L->b, A(1), A(2), ""), ""));
        break;
    case INDEX_op_nor_i32: case INDEX_op_nor_i64:
        out(L, a[0], LLVMBuildNot(L->b, LLVMBuildOr(L->b, A(1), A(2), ""), ""));
        break;
    case INDEX_op_not_i32: case INDEX_op_not_i64:
        out(L, a[0], LLVMBuildNot(L->b, A(1), ""));
        break;
    case INDEX_op_neg_i32: case INDEX_op_neg_i64:
        out(L, a[0], LLVMBuildNeg(L->b, A(1), ""));
        break;
    case INDEX_op_shl_i32: case INDEX_op_shl_i64:
        out(L, a[0], LLVMBuildShl(L->b, A(1), shift_count(L, A(2), bits), ""));
        break;
    case INDEX_op_shr_i32: case INDEX_op_shr_i64:
        out(L, a[0], LLVMBuildLShr(L->b, A(1), shift_count(L, A(2), bits), ""));
        break;
    case INDEX_op_sar_i32: case INDEX_op_sar_i64:
        out(L, a[0], LLVMBuildAShr(L->b, A(1), shift_count(L, A(2), bits), ""));
        break;
    case INDEX_op_rotl_i32: case INDEX_op_rotl_i64:
    case INDEX_op_rotr_i32: case INDEX_op_rotr_i64: {
        LLVMValueRef x = A(1);
        LLVMValueRef args[3] = { x, x, A(2) };
        bool left = c == INDEX_op_rotl_i32 || c == INDEX_op_rotl_i64;
        out(L, a[0], intrinsic(L, left ? "llvm.fshl" : "llvm.fshr", t, args, 3));
        break;
    }
    case INDEX_op_deposit_i32: case INDEX_op_deposit_i64: {
        unsigned ofs = a[3], len = a[4];
        uint64_t mask = low_mask(len);
        LLVMValueRef hole = LLVMBuildAnd(L->b, A(1), cint(t, ~(mask << ofs)), "");
        LLVMValueRef field = LLVMBuildShl(L->b, LLVMBuildAnd(L->b, A(2), cint(t, mask), ""),
                                          cint(t, ofs), "");
        out(L, a[0], LLVMBuildOr(L->b, hole, field, ""));
        break;
    }
    case INDEX_op_extract_i32: case INDEX_op_extract_i64: {
        unsigned ofs = a[2], len = a[3];
        out(L, a[0], LLVMBuildAnd(L->b, LLVMBuildLShr(L->b, A(1), cint(t, ofs), ""),
                                  cint(t, low_mask(len)), ""));
        break;
    }
    case INDEX_op_sextract_i32: case INDEX_op_sextract_i64: {
        unsigned ofs = a[2], len = a[3];
        LLVMValueRef up = LLVMBuildShl(L->b, A(1), cint(t, bits - ofs - len), "");
        out(L, a[0], LLVMBuildAShr(L->b, up, cint(t, bits - len), ""));
        break;
    }
    case INDEX_op_extract2_i32: case INDEX_op_extract2_i64: {
        LLVMValueRef args[3] = { A(2), A(1), cint(t, a[3]) };
        out(L, a[0], intrinsic(L, "llvm.fshr", t, args, 3));
        break;
    }
    case INDEX_op_ext8s_i32: case INDEX_op_ext8s_i64:
        lift_ext(L, a, t, L->i8, true);
        break;
    case INDEX_op_ext16s_i32: case INDEX_op_ext16s_i64:
        lift_ext(L, a, t, L->i16, true);
        break;
    case INDEX_op_ext32s_i64:
        lift_ext(L, a, t, L->i32, true);
        break;
    case INDEX_op_ext8u_i32: case INDEX_op_ext8u_i64:
        lift_ext(L, a, t, L->i8, false);
        break;
    case INDEX_op_ext16u_i32: case INDEX_op_ext16u_i64:
        lift_ext(L, a, t, L->i16, false);
        break;
    case INDEX_op_ext32u_i64:
        lift_ext(L, a, t, L->i32, false);
        break;
    case INDEX_op_ext_i32_i64:
        out(L, a[0], LLVMBuildSExt(L->b, in_as(L, a[1], L->i32), L->i64, ""));
        break;
    case INDEX_op_extu_i32_i64:
        out(L, a[0], LLVMBuildZExt(L->b, in_as(L, a[1], L->i32), L->i64, ""));
        break;
    case INDEX_op_extrl_i64_i32:
        out(L, a[0], in_as(L, a[1], L->i32));
        break;
    case INDEX_op_extrh_i64_i32:
        out(L, a[0], LLVMBuildTrunc(L->b, LLVMBuildLShr(L->b, in_as(L, a[1], L->i64), cint(L->i64, 32), ""),
                                    L->i32, ""));
        break;
    case INDEX_op_bswap16_i32: case INDEX_op_bswap16_i64:
        out(L, a[0], lift_bswap(L, A(1), 16, a[2], t));
        break;
    case INDEX_op_bswap32_i32: case INDEX_op_bswap32_i64:
        out(L, a[0], lift_bswap(L, A(1), 32, a[2], t));
        break;
    case INDEX_op_bswap64_i64:
        out(L, a[0], lift_bswap(L, A(1), 64, 0, t));
        break;
    case INDEX_op_clz_i32: case INDEX_op_clz_i64:
    case INDEX_op_ctz_i32: case INDEX_op_ctz_i64: {
        LLVMValueRef x = A(1);
        LLVMValueRef args[2] = { x, cint(L->i1, 1) };
        bool lead = c == INDEX_op_clz_i32 || c == INDEX_op_clz_i64;
        LLVMValueRef n = intrinsic(L, lead ? "llvm.ctlz" : "llvm.cttz", t, args, 2);
        LLVMValueRef zero = LLVMBuildICmp(L->b, LLVMIntEQ, x, cint(t, 0), "");
        out(L, a[0], LLVMBuildSelect(L->b, zero, A(2), n, ""));
        break;
    }
    case INDEX_op_ctpop_i32: case INDEX_op_ctpop_i64: {
        LLVMValueRef x = A(1);
        out(L, a[0], intrinsic(L, "llvm.ctpop", t, &x, 1));
        break;
    }
    case INDEX_op_add2_i32: case INDEX_op_add2_i64:
    case INDEX_op_sub2_i32: case INDEX_op_sub2_i64: {
        LLVMTypeRef wide = w64 ? L->i128 : L->i64;
        LLVMValueRef x = pair(L, A(2), A(3), wide, bits);
        LLVMValueRef y = pair(L, A(4), A(5), wide, bits);
        bool add = c == INDEX_op_add2_i32 || c == INDEX_op_add2_i64;
        split(L, a[0], a[1], add ? LLVMBuildAdd(L->b, x, y, "") : LLVMBuildSub(L->b, x, y, ""), t, bits);
        break;
    }
    case INDEX_op_mulu2_i32: case INDEX_op_mulu2_i64:
    case INDEX_op_muls2_i32: case INDEX_op_muls2_i64: {
        LLVMTypeRef wide = w64 ? L->i128 : L->i64;
        bool sign = c == INDEX_op_muls2_i32 || c == INDEX_op_muls2_i64;
        LLVMValueRef x = sign ? LLVMBuildSExt(L->b, A(2), wide, "") : LLVMBuildZExt(L->b, A(2), wide, "");
        LLVMValueRef y = sign ? LLVMBuildSExt(L->b, A(3), wide, "") : LLVMBuildZExt(L->b, A(3), wide, "");
        split(L, a[0], a[1], LLVMBuildMul(L->b, x, y, ""), t, bits);
        break;
    }
    case INDEX_op_muluh_i32: case INDEX_op_muluh_i64:
    case INDEX_op_mulsh_i32: case INDEX_op_mulsh_i64: {
        LLVMTypeRef wide = w64 ? L->i128 : L->i64;
        bool sign = c == INDEX_op_mulsh_i32 || c == INDEX_op_mulsh_i64;
        LLVMValueRef x = sign ? LLVMBuildSExt(L->b, A(1), wide, "") : LLVMBuildZExt(L->b, A(1), wide, "");
        LLVMValueRef y = sign ? LLVMBuildSExt(L->b, A(2), wide, "") : LLVMBuildZExt(L->b, A(2), wide, "");
        LLVMValueRef p = LLVMBuildLShr(L->b, LLVMBuildMul(L->b, x, y, ""), cint(wide, bits), "");
        out(L, a[0], LLVMBuildTrunc(L->b, p, t, ""));
        break;
    }
    case INDEX_op_div2_i32: case INDEX_op_div2_i64:
    case INDEX_op_divu2_i32: case INDEX_op_divu2_i64: {
        /* q, r = (ah:al) / d, both halves of the dividend given */
        LLVMTypeRef wide = w64 ? L->i128 : L->i64;
        bool sign = c == INDEX_op_div2_i32 || c == INDEX_op_div2_i64;
        LLVMValueRef n = pair(L, A(2), A(3), wide, bits);
        LLVMValueRef d = sign ? LLVMBuildSExt(L->b, A(4), wide, "") : LLVMBuildZExt(L->b, A(4), wide, "");
        LLVMValueRef q = sign ? LLVMBuildSDiv(L->b, n, d, "") : LLVMBuildUDiv(L->b, n, d, "");
        LLVMValueRef r = sign ? LLVMBuildSRem(L->b, n, d, "") : LLVMBuildURem(L->b, n, d, "");
        out(L, a[0], LLVMBuildTrunc(L->b, q, t, ""));
        out(L, a[1], LLVMBuildTrunc(L->b, r, t, ""));
        break;
    }

    case INDEX_op_insn_start:
        lift_insn_start(L, op);
        break;
    case INDEX_op_exit_tb:
        LLVMBuildRet(L->b, cint(L->i64, a[0]));
        continue_after_terminator(L);
        break;
    case INDEX_op_goto_tb:
        lift_goto_tb(L, a[0]);
        break;
    case INDEX_op_goto_ptr:
        /* the pointer is hypanda_llvm_lookup's (lift_call) */
        chain_if_any(L, in_as(L, a[0], L->i64));
        LLVMBuildRet(L->b, cint(L->i64, 0));
        continue_after_terminator(L);
        break;
    case INDEX_op_call:
        lift_call(L, op);
        break;
    case INDEX_op_qemu_ld_i32:
        lift_qemu_ld(L, op, TCG_TYPE_I32);
        break;
    case INDEX_op_qemu_ld_i64:
        lift_qemu_ld(L, op, TCG_TYPE_I64);
        break;
    case INDEX_op_qemu_st_i32:
    case INDEX_op_qemu_st8_i32:
    case INDEX_op_qemu_st_i64:
        lift_qemu_st(L, op);
        break;
    default:
        return fail(L, "no LLVM translation for TCG op", def->name);
    }
#undef A
    return L->error[0] == '\0';
}

LLVMModuleRef hypanda_llvm_lift(TCGContext *s, TranslationBlock *tb, LLVMContextRef ctx, const char *name,
                                bool helpers, char *error, size_t error_size)
{
    Lifter L = { .s = s, .tb = tb, .ctx = ctx, .helpers = helpers };
    L.mod = LLVMModuleCreateWithNameInContext(name, ctx);
    L.i1 = LLVMInt1TypeInContext(ctx);
    L.i8 = LLVMInt8TypeInContext(ctx);
    L.i16 = LLVMInt16TypeInContext(ctx);
    L.i32 = LLVMInt32TypeInContext(ctx);
    L.i64 = LLVMInt64TypeInContext(ctx);
    L.i128 = LLVMIntTypeInContext(ctx, 128);
    L.p8 = LLVMPointerType(L.i8, 0);
    L.vd = LLVMVoidTypeInContext(ctx);
    L.md_insn = LLVMGetMDKindIDInContext(ctx, "hypanda.insn", 12);
    L.md_load = LLVMGetMDKindIDInContext(ctx, "hypanda.load", 12);
    L.md_store = LLVMGetMDKindIDInContext(ctx, "hypanda.store", 13);
    L.md_branch = LLVMGetMDKindIDInContext(ctx, "hypanda.branch", 14);
    L.md_block = LLVMGetMDKindIDInContext(ctx, "hypanda.block", 13);

    LLVMTypeRef fty = LLVMFunctionType(L.i64, &L.p8, 1, false);
    L.fn = LLVMAddFunction(L.mod, name, fty);
    L.env = LLVMGetParam(L.fn, 0);
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    LLVMAddAttributeAtIndex(L.fn, 1, LLVMCreateEnumAttribute(ctx, noalias, 0));
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(L.fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(ctx, nounwind, 0));

    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(ctx, L.fn, "entry");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(ctx, L.fn, "");
    L.body = body;
    L.entry = LLVMCreateBuilderInContext(ctx);
    LLVMPositionBuilderAtEnd(L.entry, entry);
    LLVMValueRef to_body = LLVMBuildBr(L.entry, body);
    LLVMPositionBuilderBefore(L.entry, to_body);
    L.b = LLVMCreateBuilderInContext(ctx);
    LLVMPositionBuilderAtEnd(L.b, body);

    /* The block running, for unwinding; a fault before the first
     * insn_start belongs to instruction 0, as TCG's unwinder has it. */
    mark(&L, LLVMBuildStore(L.b, cint(L.i64, (uintptr_t)tb), env_ptr(&L, CPU_FIELD(hypanda_llvm_tb), L.i64)),
         L.md_block, NULL);
    lift_insn_start(&L, NULL);
    L.insn = 0;

    L.slots = g_new0(LLVMValueRef, s->nb_temps);
    L.labels = g_new0(LLVMBasicBlockRef, s->nb_labels);

    TCGOp *op;
    bool ok = true;
    QTAILQ_FOREACH(op, &s->ops, link) {
        if (!lift_op(&L, op)) {
            ok = false;
            break;
        }
    }
    if (ok) {
        /* Blocks nothing falls out of (after a terminator, or a label no
         * op followed) return to the main loop, which finds the next one. */
        for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(L.fn); bb; bb = LLVMGetNextBasicBlock(bb)) {
            if (LLVMGetBasicBlockTerminator(bb) == NULL) {
                LLVMPositionBuilderAtEnd(L.b, bb);
                LLVMBuildRet(L.b, cint(L.i64, 0));
            }
        }
    }

    g_free(L.slots);
    g_free(L.labels);
    LLVMDisposeBuilder(L.b);
    LLVMDisposeBuilder(L.entry);
    if (!ok) {
        snprintf(error, error_size, "%s", L.error);
        LLVMDisposeModule(L.mod);
        return NULL;
    }
    return L.mod;
}
