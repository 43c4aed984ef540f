// The taint2 pass (pass.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "pass.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DataLayout.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Operator.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "taint_state.h"

namespace hypanda::taint2 {
namespace {

// A call of a softmmu load helper the lifter marked.
bool is_guest_access(const llvm::Instruction& i) {
    return i.getMetadata("hypanda.load") != nullptr;
}

// A block's function: tbN (anything else is a helper's).
bool is_block_name(llvm::StringRef name) {
    return name.size() > 2 && name.startswith("tb") &&
           name.drop_front(2).find_first_not_of("0123456789") == llvm::StringRef::npos;
}

// A function's name as QEMU's source has it: ORC renames the helpers'
// static functions __orc_lcl.NAME.N when it splits them up.
llvm::StringRef source_name(llvm::StringRef name) {
    if (name.consume_front("__orc_lcl.")) {
        name = name.take_front(name.rfind('.'));
    }
    return name;
}

// The guest access a helper makes by calling QEMU's cpu_ld*/cpu_st*
// (include/exec/cpu_ldst.h): its size, sign, and which argument holds the
// MMU index (or a MemOpIdx, for the *_mmu forms) if any.
struct HelperAccess {
    bool store = false;
    uint32_t log2_size = 0;
    bool sign = false;
    int mmu_arg = -1;     // the argument with the MMU index, or -1 (use 0)
    bool oi_arg = false;  // that argument is a MemOpIdx
};

std::optional<HelperAccess> helper_access(llvm::StringRef name) {
    name = source_name(name);
    HelperAccess a;
    if (name.consume_front("cpu_ld")) {
        a.store = false;
    } else if (name.consume_front("cpu_st")) {
        a.store = true;
    } else {
        return std::nullopt;
    }
    static const struct {
        const char* text;
        uint32_t log2_size;
        bool sign, loads, stores;
    } kinds[] = {
        {"ub", 0, false, true, false}, {"sb", 0, true, true, false}, {"uw", 1, false, true, false},
        {"sw", 1, true, true, false},  {"16", 4, false, true, true}, {"b", 0, false, true, true},
        {"w", 1, false, true, true},   {"l", 2, false, true, true},  {"q", 3, false, true, true}};
    bool found = false;
    for (const auto& k : kinds) {
        if ((a.store ? k.stores : k.loads) && name.consume_front(k.text)) {
            a.log2_size = k.log2_size;
            a.sign = k.sign;
            found = true;
            break;
        }
    }
    if (!found) {
        return std::nullopt;
    }
    if (!name.consume_front("_be")) {
        name.consume_front("_le");
    }
    const int value_args = a.store ? 1 : 0;  // (env, addr[, value], ...)
    if (name == "_mmuidx_ra") {
        a.mmu_arg = 2 + value_args;
    } else if (name == "_mmu") {
        a.mmu_arg = 2 + value_args;
        a.oi_arg = true;
    } else if (name != "_data_ra" && name != "_data" && name != "_code") {
        return std::nullopt;
    }
    return a;
}

// The softmmu path's own functions: their callers' accesses are followed
// at the call (guest loads and stores), so their bodies are not
// instrumented.
bool is_softmmu_path(llvm::StringRef name) {
    name = source_name(name);
    return helper_access(name) || (name.startswith("helper_") && name.endswith("_mmu")) ||
           (name.startswith("full_") && name.endswith("_mmu")) || name.startswith("load_helper") ||
           name.startswith("store_helper") || name.startswith("cpu_load_helper") ||
           name.startswith("cpu_store_helper");
}

// Where a value's taint lives.
struct Loc {
    Space space;
    uint64_t addr;
};

class Instrumenter {
public:
    Instrumenter(llvm::Function& fn, const Runtime& rt, const PassOptions& options)
        : fn_(fn),
          m_(*fn.getParent()),
          dl_(m_.getDataLayout()),
          ctx_(fn.getContext()),
          rt_(rt),
          options_(options),
          helper_(!is_block_name(fn.getName())),
          frame_(helper_ ? frame_of(fn.getName().data(), fn.getName().size()) : 0) {}

    InstrumentStats run();

private:
    uint64_t size_of(llvm::Type* t) const {
        const uint64_t n = t->isSized() ? dl_.getTypeStoreSize(t).getFixedSize() : 0;
        return n == 0 ? 1 : n;
    }
    Loc loc(llvm::Value* v) {
        if (auto* arg = llvm::dyn_cast<llvm::Argument>(v); arg != nullptr && helper_arg(*arg)) {
            return {Space::kSlot, param_slot(frame_, arg->getArgNo())};
        }
        auto it = slots_.find(v);
        if (it == slots_.end()) {
            return {Space::kSlot, kCleanSlot};  // constants, arguments: untainted
        }
        return {Space::kSlot, it->second};
    }
    // The CPU-state offset `p` points to, when it is argument 0 plus a
    // constant.
    std::optional<int64_t> env_offset(llvm::Value* p) const;

    // A call of one of the runtime's functions, by its address.
    void call(llvm::IRBuilder<>& b, void* fn, std::vector<llvm::Value*> args);
    void call_copy(llvm::IRBuilder<>& b, Loc dst, Loc src, uint64_t n);
    void call_clear(llvm::IRBuilder<>& b, Loc dst, uint64_t n);
    void call_parallel(llvm::IRBuilder<>& b, Loc dst, Loc a, Loc c, uint64_t n);
    void call_mix(llvm::IRBuilder<>& b, Loc dst, uint64_t n, Loc a, uint64_t n_a, Loc c,
                  uint64_t n_c);
    void instrument_one(llvm::Instruction& i);
    // A helper's parameter that carries taint (pointers do not: the CPU
    // state's, or a helper's locals').
    bool helper_arg(const llvm::Argument& a) const {
        return helper_ && !a.getType()->isPointerTy();
    }
    // The argument that carries taint into a call's parameter slot.
    static bool passes_taint(const llvm::Value* arg) { return !arg->getType()->isPointerTy(); }
    void instrument_call(llvm::CallBase& call, llvm::IRBuilder<>& after);
    void instrument_helper_access(llvm::CallBase& call, const HelperAccess& a,
                                  llvm::IRBuilder<>& after);
    void instrument_return(llvm::ReturnInst& ret);
    // The byte offset of an extractvalue/insertvalue's indices in its
    // aggregate.
    uint64_t aggregate_offset(llvm::Type* type, llvm::ArrayRef<unsigned> indices) const;
    void store_returned_from(llvm::IRBuilder<>& b, uint64_t frame);
    // Whether i's result is untainted whatever runs: a load of host memory
    // (the block's bookkeeping), or computed from constants, arguments and
    // such values only. It gets no slot and no instrumentation.
    bool statically_clean(const llvm::Instruction& i) const;
    void instrument_branch(llvm::Instruction& term);
    void count_instruction(llvm::Instruction& marker);
    // A call of the runtime's branch() for n bytes of v's taint.
    void call_branch(llvm::IRBuilder<>& b, llvm::Value* v, uint64_t n, uint8_t kind);
    void instrument_phis(llvm::BasicBlock& bb);

    llvm::Function& fn_;
    llvm::Module& m_;
    const llvm::DataLayout& dl_;
    llvm::LLVMContext& ctx_;
    const Runtime& rt_;
    const PassOptions& options_;
    const bool helper_;     // not a block: a helper in the JIT
    const uint64_t frame_;  // a helper's frame (pass.h)
    uint64_t pc_ = 0;       // the guest instruction being instrumented
    std::unordered_map<llvm::Value*, uint64_t> slots_;
    std::unordered_set<const llvm::Value*> clean_;
    InstrumentStats stats_;
};

std::optional<int64_t> Instrumenter::env_offset(llvm::Value* p) const {
    if (fn_.arg_size() == 0) {
        return std::nullopt;
    }
    llvm::APInt offset(64, 0);
    llvm::Value* base =
        p->stripAndAccumulateConstantOffsets(dl_, offset, /*AllowNonInbounds=*/true);
    if (base != fn_.getArg(0)) {
        return std::nullopt;
    }
    return offset.getSExtValue();
}

void Instrumenter::call(llvm::IRBuilder<>& b, void* fn, std::vector<llvm::Value*> args) {
    std::vector<llvm::Type*> params;
    for (llvm::Value* a : args) {
        params.push_back(a->getType());
    }
    auto* type = llvm::FunctionType::get(b.getVoidTy(), params, false);
    llvm::Value* callee =
        b.CreateIntToPtr(b.getInt64(reinterpret_cast<uintptr_t>(fn)), type->getPointerTo());
    b.CreateCall(type, callee, args);
    stats_.calls++;
}

bool is_clean(Loc l) {
    return l.space == Space::kSlot && l.addr >= kCleanSlot && l.addr < kScratchSlots;
}

void Instrumenter::call_copy(llvm::IRBuilder<>& b, Loc dst, Loc src, uint64_t n) {
    if (is_clean(src)) {
        call_clear(b, dst, n);  // a constant: nothing to read
        return;
    }
    call(b, reinterpret_cast<void*>(rt_.copy),
         {b.getInt8(static_cast<uint8_t>(dst.space)), b.getInt64(dst.addr),
          b.getInt8(static_cast<uint8_t>(src.space)), b.getInt64(src.addr), b.getInt64(n)});
}

void Instrumenter::call_clear(llvm::IRBuilder<>& b, Loc dst, uint64_t n) {
    call(b, reinterpret_cast<void*>(rt_.clear),
         {b.getInt8(static_cast<uint8_t>(dst.space)), b.getInt64(dst.addr), b.getInt64(n)});
}

void Instrumenter::call_parallel(llvm::IRBuilder<>& b, Loc dst, Loc a, Loc c, uint64_t n) {
    // compute(x, clean) is compute(x, x): a constant operand reads nothing.
    if (is_clean(a) && is_clean(c)) {
        call_clear(b, dst, n);
        return;
    }
    if (is_clean(a)) {
        a = c;
    } else if (is_clean(c)) {
        c = a;
    }
    call(b, reinterpret_cast<void*>(rt_.parallel),
         {b.getInt8(static_cast<uint8_t>(dst.space)), b.getInt64(dst.addr),
          b.getInt8(static_cast<uint8_t>(a.space)), b.getInt64(a.addr),
          b.getInt8(static_cast<uint8_t>(c.space)), b.getInt64(c.addr), b.getInt64(n)});
}

void Instrumenter::call_mix(llvm::IRBuilder<>& b, Loc dst, uint64_t n, Loc a, uint64_t n_a, Loc c,
                            uint64_t n_c) {
    if (is_clean(a)) {
        n_a = 0;
    }
    if (is_clean(c)) {
        n_c = 0;
    }
    if (n_a == 0 && n_c == 0) {
        call_clear(b, dst, n);
        return;
    }
    call(b, reinterpret_cast<void*>(rt_.mix),
         {b.getInt8(static_cast<uint8_t>(dst.space)), b.getInt64(dst.addr), b.getInt64(n),
          b.getInt8(static_cast<uint8_t>(a.space)), b.getInt64(a.addr), b.getInt64(n_a),
          b.getInt8(static_cast<uint8_t>(c.space)), b.getInt64(c.addr), b.getInt64(n_c)});
}

void Instrumenter::instrument_one(llvm::Instruction& i) {
    llvm::IRBuilder<> b(i.getNextNode());
    if (auto* store = llvm::dyn_cast<llvm::StoreInst>(&i); store != nullptr && helper_) {
        // Whatever the pointer: the runtime finds the place (pass.h).
        call(b, reinterpret_cast<void*>(rt_.host_store),
             {store->getPointerOperand(), b.getInt64(loc(store->getValueOperand()).addr),
              b.getInt64(size_of(store->getValueOperand()->getType())),
              b.getInt64(loc(store->getPointerOperand()).addr)});
        return;
    }
    if (auto* store = llvm::dyn_cast<llvm::StoreInst>(&i)) {
        auto off = env_offset(store->getPointerOperand());
        if (off) {
            const Loc dst{Space::kEnv, static_cast<uint64_t>(*off)};
            const uint64_t n = size_of(store->getValueOperand()->getType());
            call_copy(b, dst, loc(store->getValueOperand()), n);
            if (*off == options_.pc_offset) {
                call_branch(b, store->getValueOperand(), n, 1);  // a computed jump target
            }
        }
        return;  // host memory of the block's own: no guest data
    }
    auto* access = llvm::dyn_cast<llvm::CallBase>(&i);
    if (access != nullptr && i.getMetadata("hypanda.store") != nullptr && access->arg_size() >= 5) {
        // helper_*_st*_mmu(env, vaddr, value, oi, retaddr)
        call(b, reinterpret_cast<void*>(rt_.guest_store),
             {access->getArgOperand(0), access->getArgOperand(1),
              b.getInt64(loc(access->getArgOperand(2)).addr),
              b.CreateZExtOrTrunc(access->getArgOperand(3), b.getInt32Ty()),
              b.getInt64(loc(access->getArgOperand(1)).addr), b.getInt64(pc_)});
        return;
    }
    if (auto* c = llvm::dyn_cast<llvm::CallBase>(&i);
        c != nullptr && !is_guest_access(i) && i.getMetadata("hypanda.store") == nullptr) {
        instrument_call(*c, b);
        return;
    }
    if (i.getType()->isVoidTy()) {
        return;
    }
    const Loc dst = loc(&i);
    const uint64_t n = size_of(i.getType());
    if (auto* load = llvm::dyn_cast<llvm::LoadInst>(&i); load != nullptr && helper_) {
        call(b, reinterpret_cast<void*>(rt_.host_load),
             {b.getInt64(dst.addr), b.getInt64(n), load->getPointerOperand(),
              b.getInt64(loc(load->getPointerOperand()).addr)});
        return;
    }
    if (auto* load = llvm::dyn_cast<llvm::LoadInst>(&i)) {
        auto off = env_offset(load->getPointerOperand());
        if (off) {
            call_copy(b, dst, {Space::kEnv, static_cast<uint64_t>(*off)}, n);
        } else {
            call_clear(b, dst, n);
        }
        return;
    }
    if (auto* bin = llvm::dyn_cast<llvm::BinaryOperator>(&i)) {
        switch (bin->getOpcode()) {
            case llvm::Instruction::And:
            case llvm::Instruction::Or:
            case llvm::Instruction::Xor:
                call_parallel(b, dst, loc(bin->getOperand(0)), loc(bin->getOperand(1)), n);
                return;
            default:
                call_mix(b, dst, n, loc(bin->getOperand(0)), n, loc(bin->getOperand(1)), n);
                return;
        }
    }
    if (auto* cast = llvm::dyn_cast<llvm::CastInst>(&i)) {
        const Loc src = loc(cast->getOperand(0));
        const uint64_t n_src = size_of(cast->getOperand(0)->getType());
        switch (cast->getOpcode()) {
            case llvm::Instruction::Trunc:
            case llvm::Instruction::BitCast:
            case llvm::Instruction::PtrToInt:
            case llvm::Instruction::IntToPtr:
                // The low bytes move as they are (little-endian host); bytes
                // the source lacks are clean.
                call_copy(b, dst, src, std::min(n, n_src));
                if (n > n_src) {
                    call_clear(b, {dst.space, dst.addr + n_src}, n - n_src);
                }
                return;
            case llvm::Instruction::ZExt:
                call_copy(b, dst, src, n_src);
                call_clear(b, {dst.space, dst.addr + n_src}, n - n_src);
                return;
            case llvm::Instruction::SExt:
                // The high bytes are copies of the sign: computed from the
                // source's top byte.
                call_copy(b, dst, src, n_src);
                call_mix(b, {dst.space, dst.addr + n_src}, n - n_src,
                         {src.space, src.addr + n_src - 1}, 1, {Space::kSlot, kCleanSlot}, 0);
                return;
            default:
                call_mix(b, dst, n, src, n_src, {Space::kSlot, kCleanSlot}, 0);
                return;
        }
    }
    if (auto* gep = llvm::dyn_cast<llvm::GetElementPtrInst>(&i)) {
        // Pointer arithmetic: the base and the last index computed with.
        llvm::Value* index =
            gep->getNumIndices() > 0 ? gep->getOperand(gep->getNumOperands() - 1) : nullptr;
        const Loc clean{Space::kSlot, kCleanSlot};
        call_mix(b, dst, n, loc(gep->getPointerOperand()),
                 size_of(gep->getPointerOperand()->getType()),
                 index != nullptr ? loc(index) : clean,
                 index != nullptr ? size_of(index->getType()) : 0);
        return;
    }
    if (auto* cmp = llvm::dyn_cast<llvm::CmpInst>(&i)) {
        const uint64_t n_op = size_of(cmp->getOperand(0)->getType());
        call_mix(b, dst, n, loc(cmp->getOperand(0)), n_op, loc(cmp->getOperand(1)), n_op);
        return;
    }
    auto* sel = llvm::dyn_cast<llvm::SelectInst>(&i);
    if (sel != nullptr && sel->getCondition()->getType()->isIntegerTy(1)) {
        // The chosen operand's bytes, picked as the select picks; a tainted
        // condition is not followed into the result (PANDA's taint2 does
        // the same: control dependence is on_branch's business).
        llvm::Value* t = b.getInt64(loc(sel->getTrueValue()).addr);
        llvm::Value* f = b.getInt64(loc(sel->getFalseValue()).addr);
        llvm::Value* src = b.CreateSelect(sel->getCondition(), t, f);
        call(b, reinterpret_cast<void*>(rt_.copy),
             {b.getInt8(static_cast<uint8_t>(dst.space)), b.getInt64(dst.addr),
              b.getInt8(static_cast<uint8_t>(Space::kSlot)), src, b.getInt64(n)});
        return;
    }
    auto* callee = llvm::dyn_cast<llvm::CallBase>(&i);
    if (callee != nullptr && is_guest_access(i) && callee->arg_size() >= 4) {
        // helper_*_ld*_mmu(env, vaddr, oi, retaddr)
        call(b, reinterpret_cast<void*>(rt_.guest_load),
             {b.getInt64(dst.addr), b.getInt64(n), callee->getArgOperand(0),
              callee->getArgOperand(1),
              b.CreateZExtOrTrunc(callee->getArgOperand(2), b.getInt32Ty()),
              b.getInt64(loc(callee->getArgOperand(1)).addr), b.getInt64(pc_)});
        return;
    }
    if (auto* ev = llvm::dyn_cast<llvm::ExtractValueInst>(&i)) {
        const uint64_t off =
            aggregate_offset(ev->getAggregateOperand()->getType(), ev->getIndices());
        const Loc agg = loc(ev->getAggregateOperand());
        call_copy(b, dst, is_clean(agg) ? agg : Loc{agg.space, agg.addr + off}, n);
        return;
    }
    if (auto* iv = llvm::dyn_cast<llvm::InsertValueInst>(&i)) {
        const uint64_t off = aggregate_offset(iv->getType(), iv->getIndices());
        call_copy(b, dst, loc(iv->getAggregateOperand()), n);
        call_copy(b, {dst.space, dst.addr + off}, loc(iv->getInsertedValueOperand()),
                  size_of(iv->getInsertedValueOperand()->getType()));
        return;
    }
    if (auto* ee = llvm::dyn_cast<llvm::ExtractElementInst>(&i)) {
        const Loc vec = loc(ee->getVectorOperand());
        auto* index = llvm::dyn_cast<llvm::ConstantInt>(ee->getIndexOperand());
        if (index != nullptr && !is_clean(vec)) {
            call_copy(b, dst, {vec.space, vec.addr + index->getZExtValue() * n}, n);
        } else {
            call_mix(b, dst, n, vec, size_of(ee->getVectorOperand()->getType()),
                     loc(ee->getIndexOperand()), size_of(ee->getIndexOperand()->getType()));
        }
        return;
    }
    if (auto* ie = llvm::dyn_cast<llvm::InsertElementInst>(&i)) {
        auto* index = llvm::dyn_cast<llvm::ConstantInt>(ie->getOperand(2));
        llvm::Value* elem = ie->getOperand(1);
        const uint64_t n_elem = size_of(elem->getType());
        if (index != nullptr) {
            call_copy(b, dst, loc(ie->getOperand(0)), n);
            call_copy(b, {dst.space, dst.addr + index->getZExtValue() * n_elem}, loc(elem), n_elem);
        } else {
            call_mix(b, dst, n, loc(ie->getOperand(0)), n, loc(elem), n_elem);
        }
        return;
    }
    if (auto* sv = llvm::dyn_cast<llvm::ShuffleVectorInst>(&i)) {
        const uint64_t n_op = size_of(sv->getOperand(0)->getType());
        call_mix(b, dst, n, loc(sv->getOperand(0)), n_op, loc(sv->getOperand(1)), n_op);
        return;
    }
    if (auto* fr = llvm::dyn_cast<llvm::FreezeInst>(&i)) {
        call_copy(b, dst, loc(fr->getOperand(0)), n);
        return;
    }
    if (auto* un = llvm::dyn_cast<llvm::UnaryOperator>(&i)) {
        call_mix(b, dst, n, loc(un->getOperand(0)), n, {Space::kSlot, kCleanSlot}, 0);
        return;
    }
    if (sel != nullptr) {
        // A vector select: element by element, as and/or would.
        call_parallel(b, dst, loc(sel->getTrueValue()), loc(sel->getFalseValue()), n);
        return;
    }
    stats_.unfollowed++;
    call_clear(b, dst, n);
}

uint64_t Instrumenter::aggregate_offset(llvm::Type* type, llvm::ArrayRef<unsigned> indices) const {
    uint64_t off = 0;
    for (unsigned index : indices) {
        if (auto* st = llvm::dyn_cast<llvm::StructType>(type)) {
            off += dl_.getStructLayout(st)->getElementOffset(index);
            type = st->getElementType(index);
        } else if (auto* at = llvm::dyn_cast<llvm::ArrayType>(type)) {
            type = at->getElementType();
            off += index * dl_.getTypeAllocSize(type).getFixedSize();
        } else {
            break;
        }
    }
    return off;
}

void Instrumenter::store_returned_from(llvm::IRBuilder<>& b, uint64_t frame) {
    llvm::Value* p = b.CreateIntToPtr(b.getInt64(reinterpret_cast<uintptr_t>(rt_.returned_from)),
                                      b.getInt64Ty()->getPointerTo());
    b.CreateStore(b.getInt64(frame), p);
}

// A call: memcpy/memmove/memset between host pointers; a helper's guest
// access (cpu_ld*/cpu_st*); a call of a named function, whose frame gets
// the arguments' taint and gives the result's (or, when the function was
// native, the result is the mix of its first two non-pointer arguments:
// what a block's call of a helper outside the JIT gets).
void Instrumenter::instrument_call(llvm::CallBase& c, llvm::IRBuilder<>& after) {
    auto i64 = [&](llvm::IRBuilder<>& b, llvm::Value* v) {
        return b.CreateZExtOrTrunc(v, b.getInt64Ty());
    };
    if (auto* mt = llvm::dyn_cast<llvm::MemTransferInst>(&c)) {
        call(after, reinterpret_cast<void*>(rt_.host_copy),
             {mt->getRawDest(), mt->getRawSource(), i64(after, mt->getLength())});
        return;
    }
    if (auto* ms = llvm::dyn_cast<llvm::MemSetInst>(&c)) {
        call(after, reinterpret_cast<void*>(rt_.host_clear),
             {ms->getRawDest(), i64(after, ms->getLength())});
        return;
    }
    llvm::Function* callee = c.getCalledFunction();
    if (callee != nullptr && !callee->isIntrinsic()) {
        if (auto access = helper_access(callee->getName())) {
            instrument_helper_access(c, *access, after);
            return;
        }
    }
    std::vector<llvm::Value*> args;
    for (llvm::Value* arg : c.args()) {
        if (passes_taint(arg) && args.size() < 2) {
            args.push_back(arg);
        }
    }
    const Loc clean{Space::kSlot, kCleanSlot};
    const Loc a = args.size() > 0 ? loc(args[0]) : clean,
              d = args.size() > 1 ? loc(args[1]) : clean;
    const uint64_t n_a = args.size() > 0 && !is_clean(a) ? size_of(args[0]->getType()) : 0;
    const uint64_t n_d = args.size() > 1 && !is_clean(d) ? size_of(args[1]->getType()) : 0;
    const bool returns = !c.getType()->isVoidTy();
    if (!options_.helper_frames || callee == nullptr || callee->isIntrinsic() ||
        is_softmmu_path(callee->getName())) {
        if (returns) {
            call_mix(after, loc(&c), size_of(c.getType()), a, n_a, d, n_d);
        }
        return;
    }
    const uint64_t frame = frame_of(callee->getName().data(), callee->getName().size());
    llvm::IRBuilder<> before(&c);
    for (unsigned k = 0; k < c.arg_size(); k++) {
        llvm::Value* arg = c.getArgOperand(k);
        if (passes_taint(arg)) {
            call_copy(before, {Space::kSlot, param_slot(frame, k)}, loc(arg),
                      std::min(size_of(arg->getType()), kParamSlot));
        }
    }
    store_returned_from(before, 0);
    if (returns) {
        call(after, reinterpret_cast<void*>(rt_.call_result),
             {after.getInt64(loc(&c).addr),
              after.getInt64(std::min(size_of(c.getType()), kParamSlot)), after.getInt64(frame),
              after.getInt64(a.addr), after.getInt64(n_a), after.getInt64(d.addr),
              after.getInt64(n_d)});
    }
}

// cpu_ld*(env, addr, ...) and cpu_st*(env, addr, value, ...) in a helper: the
// guest access, as a block's softmmu call. The MemOpIdx is made from the
// name's size and sign and the call's MMU index (0 where the call has none:
// the translation then falls back to the page walk when index 0's TLB
// entry is not the page's).
void Instrumenter::instrument_helper_access(llvm::CallBase& c, const HelperAccess& a,
                                            llvm::IRBuilder<>& b) {
    if (c.arg_size() < (a.store ? 3u : 2u)) {
        return;
    }
    llvm::Value* idx = b.getInt32(0);
    if (a.mmu_arg >= 0 && static_cast<unsigned>(a.mmu_arg) < c.arg_size()) {
        idx = b.CreateAnd(b.CreateZExtOrTrunc(c.getArgOperand(a.mmu_arg), b.getInt32Ty()), 15);
    }
    const uint32_t op = a.log2_size | (a.sign ? 8u : 0u);
    llvm::Value* oi = b.CreateOr(idx, b.getInt32(op << 4));
    llvm::Value* env = c.getArgOperand(0);
    llvm::Value* vaddr = b.CreateZExtOrTrunc(c.getArgOperand(1), b.getInt64Ty());
    const uint64_t addr_slot = loc(c.getArgOperand(1)).addr;
    if (a.store) {
        call(b, reinterpret_cast<void*>(rt_.guest_store),
             {env, vaddr, b.getInt64(loc(c.getArgOperand(2)).addr), oi, b.getInt64(addr_slot),
              b.getInt64(pc_)});
    } else if (!c.getType()->isVoidTy()) {
        call(b, reinterpret_cast<void*>(rt_.guest_load),
             {b.getInt64(loc(&c).addr), b.getInt64(size_of(c.getType())), env, vaddr, oi,
              b.getInt64(addr_slot), b.getInt64(pc_)});
    }
}

// A helper's return: its value's taint to the frame's return slot, and the
// frame to returned_from (the caller's call_result checks it).
void Instrumenter::instrument_return(llvm::ReturnInst& ret) {
    llvm::IRBuilder<> b(&ret);
    if (llvm::Value* v = ret.getReturnValue()) {
        call_copy(b, {Space::kSlot, frame_}, loc(v), std::min(size_of(v->getType()), kParamSlot));
    }
    store_returned_from(b, frame_);
}

void Instrumenter::call_branch(llvm::IRBuilder<>& b, llvm::Value* v, uint64_t n, uint8_t kind) {
    if (slots_.count(v) == 0 || fn_.arg_size() == 0) {
        return;  // a constant: nothing to report
    }
    call(b, reinterpret_cast<void*>(rt_.branch),
         {fn_.getArg(0), b.getInt64(loc(v).addr), b.getInt64(n), b.getInt64(pc_), b.getInt8(kind)});
}

// At a guest instruction's start: the counter goes up by one (0 is
// skipped: it means "not counted").
void Instrumenter::count_instruction(llvm::Instruction& marker) {
    llvm::IRBuilder<> b(marker.getNextNode());
    llvm::Value* counter =
        b.CreateIntToPtr(b.getInt64(reinterpret_cast<uintptr_t>(options_.instruction_counter)),
                         b.getInt32Ty()->getPointerTo());
    llvm::Value* next = b.CreateAdd(b.CreateLoad(b.getInt32Ty(), counter), b.getInt32(1));
    next = b.CreateSelect(b.CreateICmpEQ(next, b.getInt32(0)), b.getInt32(1), next);
    b.CreateStore(next, counter);
}

// A guest conditional branch (the lifter marks the brcond of a guest
// instruction; the exit-request check is not one): its condition, before
// the branch is taken.
void Instrumenter::instrument_branch(llvm::Instruction& term) {
    auto* br = llvm::dyn_cast<llvm::BranchInst>(&term);
    if (br == nullptr || !br->isConditional() || term.getMetadata("hypanda.branch") == nullptr) {
        return;
    }
    llvm::IRBuilder<> b(&term);
    call_branch(b, br->getCondition(), size_of(br->getCondition()->getType()), 0);
}

// A phi's taint is its incoming value's for the edge taken. On each edge
// into the block, the incoming values' taint goes to scratch slots, then
// the scratch to the phis' slots (two steps, so phis that read each other,
// as in a swap, see the old taint). A predecessor that can also branch
// elsewhere gets a block of its own on the edge, so the copies run only
// when that edge is taken.
void Instrumenter::instrument_phis(llvm::BasicBlock& bb) {
    std::vector<llvm::PHINode*> phis;
    for (llvm::PHINode& phi : bb.phis()) {
        phis.push_back(&phi);
    }
    if (phis.empty()) {
        return;
    }
    std::vector<llvm::BasicBlock*> preds;
    for (llvm::BasicBlock* pred : llvm::predecessors(&bb)) {
        if (std::find(preds.begin(), preds.end(), pred) == preds.end()) {
            preds.push_back(pred);
        }
    }
    for (llvm::BasicBlock* pred : preds) {
        llvm::BasicBlock* edge = pred;
        llvm::Instruction* term = pred->getTerminator();
        if (term->getNumSuccessors() > 1) {
            if (!llvm::isa<llvm::BranchInst>(term) && !llvm::isa<llvm::SwitchInst>(term)) {
                stats_.unfollowed++;  // an edge that cannot be split: the phis keep what they had
                continue;
            }
            edge = llvm::BasicBlock::Create(ctx_, "taint.edge", &fn_, &bb);
            llvm::BranchInst::Create(&bb, edge);
            for (unsigned s = 0; s < term->getNumSuccessors(); s++) {
                if (term->getSuccessor(s) == &bb) {
                    term->setSuccessor(s, edge);
                }
            }
            for (llvm::PHINode* phi : phis) {
                for (unsigned k = 0; k < phi->getNumIncomingValues(); k++) {
                    if (phi->getIncomingBlock(k) == pred) {
                        phi->setIncomingBlock(k, edge);
                    }
                }
            }
        }
        llvm::IRBuilder<> b(edge->getTerminator());
        uint64_t scratch = kScratchSlots;
        struct Move {
            Loc dst;
            uint64_t from, n;
        };
        std::vector<Move> moves;
        for (llvm::PHINode* phi : phis) {
            const int k = phi->getBasicBlockIndex(edge);
            if (k < 0) {
                continue;
            }
            const uint64_t n = size_of(phi->getType());
            call_copy(b, {Space::kSlot, scratch}, loc(phi->getIncomingValue(k)), n);
            moves.push_back({loc(phi), scratch, n});
            scratch += (n + kSlotSize - 1) / kSlotSize * kSlotSize;
        }
        for (const Move& m : moves) {
            call_copy(b, m.dst, {Space::kSlot, m.from}, m.n);
        }
    }
}

bool Instrumenter::statically_clean(const llvm::Instruction& i) const {
    if (i.getType()->isVoidTy() || llvm::isa<llvm::PHINode>(i) || llvm::isa<llvm::CallBase>(i)) {
        return false;
    }
    if (auto* load = llvm::dyn_cast<llvm::LoadInst>(&i)) {
        return !helper_ && !env_offset(const_cast<llvm::Value*>(load->getPointerOperand()));
    }
    for (const llvm::Value* op : i.operands()) {
        if (llvm::isa<llvm::Instruction>(op) && clean_.count(op) == 0) {
            return false;
        }
        if (auto* arg = llvm::dyn_cast<llvm::Argument>(op); arg != nullptr && helper_arg(*arg)) {
            return false;
        }
    }
    return true;
}

InstrumentStats Instrumenter::run() {
    std::vector<std::pair<llvm::Instruction*, uint64_t>> work;  // with its guest PC
    if (helper_ && is_softmmu_path(fn_.getName())) {
        return stats_;  // its callers follow the access (is_softmmu_path)
    }
    uint64_t next = helper_ ? param_slot(frame_, fn_.arg_size()) : 0;
    uint64_t pc = 0;
    for (llvm::BasicBlock& bb : fn_) {
        for (llvm::Instruction& i : bb) {
            if (const llvm::MDNode* md = i.getMetadata("hypanda.insn")) {
                if (md->getNumOperands() == 1) {
                    if (auto* c =
                            llvm::mdconst::dyn_extract<llvm::ConstantInt>(md->getOperand(0))) {
                        pc = c->getZExtValue();
                    }
                }
            }
            if (statically_clean(i)) {
                clean_.insert(&i);  // operands before users: blocks are in order
            } else if (!i.getType()->isVoidTy()) {
                slots_[&i] = next;
                next += (size_of(i.getType()) + kSlotSize - 1) / kSlotSize * kSlotSize;
                stats_.values++;
            }
            work.emplace_back(&i, pc);
        }
    }
    std::vector<llvm::BasicBlock*> blocks;
    for (llvm::BasicBlock& bb : fn_) {
        blocks.push_back(&bb);
    }
    for (auto [i, at] : work) {
        pc_ = at;
        if (i->isTerminator()) {
            instrument_branch(*i);
            if (auto* ret = llvm::dyn_cast<llvm::ReturnInst>(i); ret != nullptr && helper_) {
                instrument_return(*ret);
            }
        } else if (!llvm::isa<llvm::PHINode>(i) && clean_.count(i) == 0) {
            instrument_one(*i);
        }
        if (options_.instruction_counter != nullptr && i->getMetadata("hypanda.insn") != nullptr) {
            count_instruction(*i);
        }
    }
    for (llvm::BasicBlock* bb : blocks) {
        instrument_phis(*bb);
    }
    return stats_;
}

}  // namespace

uint64_t frame_of(const char* name, size_t length) {
    static std::mutex lock;
    static std::unordered_map<std::string, uint64_t> frames;
    std::lock_guard<std::mutex> hold(lock);
    auto [it, added] = frames.try_emplace(std::string(name, length), 0);
    if (added) {
        it->second = kFrames + (frames.size() - 1) * kFrameSize;
    }
    return it->second;
}

InstrumentStats instrument(llvm::Function& fn, const Runtime& runtime, const PassOptions& options) {
    return Instrumenter(fn, runtime, options).run();
}

}  // namespace hypanda::taint2
