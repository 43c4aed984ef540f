// C++ for LLVM passes on Hypanda's LLVM engine (docs/llvm.md): the SDK hands
// passes C handles (plugin.h: llvm_init, panda_llvm_add_function_pass);
// this header turns them into LLVM's C++ objects and lets a pass written for
// LLVM's new pass manager be added as it is. Build against LLVM 14 (the
// engine's; `llvm-config-14 --cxxflags`).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <llvm-c/Types.h>
#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/Instruction.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/PassManager.h>
#include <llvm/IR/Value.h>
#include <llvm/Passes/PassBuilder.h>

#include <cstdint>
#include <optional>
#include <utility>

#include <panda/plugin.h>

namespace panda::llvm_pass {

// The function a pass is given.
inline llvm::Function& function(void* f) { return *llvm::unwrap<llvm::Function>(static_cast<LLVMValueRef>(f)); }

// Whether it is a block's function (the lifted code of one translation
// block, `i64 @tbN(i8* env)`, N decimal) rather than a helper's (which may
// be called tb_something).
inline bool is_block(const llvm::Function& f) {
    const llvm::StringRef name = f.getName();
    return name.size() > 2 && name.startswith("tb") && name.drop_front(2).find_first_not_of("0123456789") == llvm::StringRef::npos;
}

// The lifter's marks in a block's function (metadata the optimisations
// before the plugins' passes keep):
// - where each run of the block begins (the function's entry, and again
//   when a block linked to itself loops): a store carrying !hypanda.block;
inline bool is_block_start(const llvm::Instruction& i) { return i.getMetadata("hypanda.block") != nullptr; }
// - the start of each guest instruction: a volatile store of the
//   instruction's number carrying !hypanda.insn !{i64 pc};
inline std::optional<uint64_t> guest_pc(const llvm::Instruction& i) {
    const llvm::MDNode* md = i.getMetadata("hypanda.insn");
    if (md == nullptr || md->getNumOperands() != 1) {
        return std::nullopt;
    }
    auto* pc = llvm::mdconst::dyn_extract<llvm::ConstantInt>(md->getOperand(0));
    return pc ? std::optional<uint64_t>(pc->getZExtValue()) : std::nullopt;
}
// - a guest memory access: the call of a softmmu load or store helper
//   (guest virtual address: argument 1) in the system emulator, the load or
//   store itself in linux-user (its pointer is guest_base, the metadata's
//   operand, plus the guest address);
inline bool is_guest_load(const llvm::Instruction& i) { return i.getMetadata("hypanda.load") != nullptr; }
inline bool is_guest_store(const llvm::Instruction& i) { return i.getMetadata("hypanda.store") != nullptr; }
// The guest virtual address of such an access, as an i64 computed by `b`
// (inserted before the access).
inline llvm::Value* guest_address(llvm::IRBuilder<>& b, llvm::Instruction& access) {
    if (auto* call = llvm::dyn_cast<llvm::CallInst>(&access)) {
        return call->getArgOperand(1);
    }
    const llvm::MDNode* md = access.getMetadata(is_guest_load(access) ? "hypanda.load" : "hypanda.store");
    auto* base = md && md->getNumOperands() == 1 ? llvm::mdconst::dyn_extract<llvm::ConstantInt>(md->getOperand(0))
                                                 : nullptr;
    llvm::Value* host = b.CreatePtrToInt(llvm::getLoadStorePointerOperand(&access), b.getInt64Ty());
    return base ? b.CreateSub(host, b.getInt64(base->getZExtValue())) : host;
}
// - a conditional branch of a guest instruction (a TCG brcond; not the
//   exit-request check at the top of every block), with the block TCG's
//   label became: the side taken when the brcond's condition holds (for a
//   guest Jcc, the jump). Optimisation may have swapped the branch's
//   successors, so compare blocks, not successor numbers.
inline bool is_guest_branch(const llvm::Instruction& i) { return i.getMetadata("hypanda.branch") != nullptr; }
inline const llvm::BasicBlock* guest_branch_target(const llvm::Instruction& i) {
    const llvm::MDNode* md = i.getMetadata("hypanda.branch");
    if (md == nullptr || md->getNumOperands() != 1) {
        return nullptr;
    }
    auto* address = llvm::mdconst::dyn_extract_or_null<llvm::BlockAddress>(md->getOperand(0));
    return address ? address->getBasicBlock() : nullptr;
}

// Analyses for passes that ask for them, emptied after each run.
inline llvm::FunctionAnalysisManager& analyses() {
    struct Managers {
        llvm::LoopAnalysisManager loops;
        llvm::FunctionAnalysisManager functions;
        llvm::CGSCCAnalysisManager cgsccs;
        llvm::ModuleAnalysisManager modules;
        Managers() {
            llvm::PassBuilder pb;
            pb.registerModuleAnalyses(modules);
            pb.registerCGSCCAnalyses(cgsccs);
            pb.registerFunctionAnalyses(functions);
            pb.registerLoopAnalyses(loops);
            pb.crossRegisterProxies(loops, functions, cgsccs, modules);
        }
    };
    static Managers managers;
    return managers.functions;
}

// Adds a new-pass-manager function pass (anything with
// `llvm::PreservedAnalyses run(llvm::Function&, llvm::FunctionAnalysisManager&)`)
// to the engine; `passes` is llvm_init's funPassMan (or nullptr later). The
// pass object lives as long as the plugin.
template <class Pass>
void add(void* passes, Pass pass) {
    auto* owned = new Pass(std::move(pass));
    panda_llvm_add_function_pass(
        passes,
        [](void* f, void* opaque) {
            static_cast<Pass*>(opaque)->run(function(f), analyses());
            analyses().clear();
        },
        owned);
}

}  // namespace panda::llvm_pass
