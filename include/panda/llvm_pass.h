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
#include <llvm/IR/Function.h>
#include <llvm/IR/PassManager.h>
#include <llvm/IR/Value.h>
#include <llvm/Passes/PassBuilder.h>

#include <utility>

#include <panda/plugin.h>

namespace panda::llvm_pass {

// The function a pass is given.
inline llvm::Function& function(void* f) { return *llvm::unwrap<llvm::Function>(static_cast<LLVMValueRef>(f)); }

// Whether it is a block's function (the lifted code of one translation
// block, `i64 @tbN(i8* env)`) rather than a helper's.
inline bool is_block(const llvm::Function& f) { return f.getName().startswith("tb"); }

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
