// The taint2 pass (pass.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "pass.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DataLayout.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Operator.h>

#include <algorithm>
#include <optional>
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
          options_(options) {}

    InstrumentStats run();

private:
    uint64_t size_of(llvm::Type* t) const {
        const uint64_t n = t->isSized() ? dl_.getTypeStoreSize(t).getFixedSize() : 0;
        return n == 0 ? 1 : n;
    }
    Loc loc(llvm::Value* v) {
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
    uint64_t pc_ = 0;  // the guest instruction being instrumented
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
    if (i.getType()->isVoidTy()) {
        return;
    }
    const Loc dst = loc(&i);
    const uint64_t n = size_of(i.getType());
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
    if (auto* call = llvm::dyn_cast<llvm::CallBase>(&i)) {
        // A call into the emulator: for now its result is the mix of its
        // first two non-pointer arguments (the helpers' own flows come with
        // helpers in the JIT; guest memory with the softmmu helpers).
        std::vector<llvm::Value*> args;
        for (llvm::Value* arg : call->args()) {
            if (!arg->getType()->isPointerTy() && args.size() < 2) {
                args.push_back(arg);
            }
        }
        const Loc clean{Space::kSlot, kCleanSlot};
        const Loc a = args.size() > 0 ? loc(args[0]) : clean,
                  c = args.size() > 1 ? loc(args[1]) : clean;
        call_mix(b, dst, n, a, args.size() > 0 ? size_of(args[0]->getType()) : 0, c,
                 args.size() > 1 ? size_of(args[1]->getType()) : 0);
        return;
    }
    stats_.unfollowed++;
    call_clear(b, dst, n);
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
        return !env_offset(const_cast<llvm::Value*>(load->getPointerOperand()));
    }
    for (const llvm::Value* op : i.operands()) {
        if (llvm::isa<llvm::Instruction>(op) && clean_.count(op) == 0) {
            return false;
        }
    }
    return true;
}

InstrumentStats Instrumenter::run() {
    std::vector<std::pair<llvm::Instruction*, uint64_t>> work;  // with its guest PC
    uint64_t next = 0;
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

InstrumentStats instrument(llvm::Function& fn, const Runtime& runtime, const PassOptions& options) {
    return Instrumenter(fn, runtime, options).run();
}

}  // namespace hypanda::taint2
