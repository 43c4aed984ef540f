// The LLVM engine's JIT: optimises each lifted block's module and compiles
// it with LLVM's ORC LLJIT into one arena of executable memory, which a
// translation-cache flush empties at once (jit.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later

#include "jit.h"

#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/ExecutionEngine/RuntimeDyld.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/PassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/DeadStoreElimination.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>
#include <llvm/Transforms/Utils/Mem2Reg.h>

#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
// 128-bit division, which LLVM lowers to libgcc calls (div2_i64).
__int128 __divti3(__int128, __int128);
unsigned __int128 __udivti3(unsigned __int128, unsigned __int128);
__int128 __modti3(__int128, __int128);
unsigned __int128 __umodti3(unsigned __int128, unsigned __int128);
}

namespace {

// All compiled blocks live in one reserved range, so that every
// PC-relative reference between a block's sections fits in 32 bits and a
// flush frees everything by resetting one pointer.
class Arena {
public:
    static constexpr size_t kSize = size_t(1) << 30;

    bool reserve(std::string &error)
    {
        void *p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (p == MAP_FAILED) {
            error = std::string("cannot reserve the JIT's code arena: ") + strerror(errno);
            return false;
        }
        base_ = static_cast<uint8_t *>(p);
        used_ = 0;
        return true;
    }

    uint8_t *allocate(uintptr_t size, unsigned alignment)
    {
        size_t align = alignment ? alignment : 16;
        size_t start = (used_ + align - 1) & ~(align - 1);
        if (start + size > kSize) {
            return nullptr;
        }
        used_ = start + size;
        return base_ + start;
    }

    void reset()
    {
        // Give the pages back; the range stays reserved.
        if (used_ > 0) {
            madvise(base_, (used_ + 4095) & ~size_t(4095), MADV_DONTNEED);
        }
        used_ = 0;
    }

    size_t used() const { return used_; }

private:
    uint8_t *base_ = nullptr;
    size_t used_ = 0;
};

Arena arena;

class ArenaMemoryManager : public llvm::RuntimeDyld::MemoryManager {
public:
    uint8_t *allocateCodeSection(uintptr_t size, unsigned alignment, unsigned, llvm::StringRef) override
    {
        return arena.allocate(size, alignment);
    }
    uint8_t *allocateDataSection(uintptr_t size, unsigned alignment, unsigned, llvm::StringRef, bool) override
    {
        return arena.allocate(size, alignment);
    }
    // Blocks are nounwind and have no unwind tables.
    void registerEHFrames(uint8_t *, uint64_t, size_t) override {}
    void deregisterEHFrames() override {}
    bool finalizeMemory(std::string *) override { return false; }
};

struct Engine {
    std::unique_ptr<llvm::orc::LLJIT> jit;
    llvm::orc::ThreadSafeContext context;
    llvm::orc::ResourceTrackerSP tracker;
    // The optimisation run on each block, its analyses kept between runs.
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::FunctionPassManager fpm;
    std::vector<std::pair<HypandaJitFunctionPass, void *>> plugin_passes;
    std::mutex lock;
};

Engine *engine;
HypandaJitTimes times;

uint64_t now_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch()).count();
}

void set_error(char *error, size_t size, const std::string &message)
{
    if (size > 0) {
        snprintf(error, size, "%s", message.c_str());
    }
}

}  // namespace

extern "C" bool hypanda_jit_init(char *error, size_t error_size)
{
    if (engine != nullptr) {
        return true;
    }
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();

    std::string message;
    if (!arena.reserve(message)) {
        set_error(error, error_size, message);
        return false;
    }
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb) {
        set_error(error, error_size, "no LLVM target for this host: " + llvm::toString(jtmb.takeError()));
        return false;
    }
    jtmb->setCodeGenOptLevel(llvm::CodeGenOpt::None);
    jtmb->setCodeModel(llvm::CodeModel::Small);
    auto jit = llvm::orc::LLJITBuilder()
                   .setJITTargetMachineBuilder(std::move(*jtmb))
                   .setObjectLinkingLayerCreator([](llvm::orc::ExecutionSession &session, const llvm::Triple &) {
                       return std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(
                           session, []() { return std::make_unique<ArenaMemoryManager>(); });
                   })
                   .create();
    if (!jit) {
        set_error(error, error_size, "cannot start LLVM's JIT: " + llvm::toString(jit.takeError()));
        return false;
    }
    auto *e = new Engine();
    e->jit = std::move(*jit);
    e->context = llvm::orc::ThreadSafeContext(std::make_unique<llvm::LLVMContext>());

    auto &main = e->jit->getMainJITDylib();
    llvm::orc::MangleAndInterner mangle(e->jit->getExecutionSession(), e->jit->getDataLayout());
    llvm::orc::SymbolMap builtins;
    auto add = [&](const char *name, void *address) {
        builtins[mangle(name)] = llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(address),
                                                           llvm::JITSymbolFlags::Exported);
    };
    add("__divti3", reinterpret_cast<void *>(&__divti3));
    add("__udivti3", reinterpret_cast<void *>(&__udivti3));
    add("__modti3", reinterpret_cast<void *>(&__modti3));
    add("__umodti3", reinterpret_cast<void *>(&__umodti3));
    add("memcpy", reinterpret_cast<void *>(&memcpy));
    add("memset", reinterpret_cast<void *>(&memset));
    add("memmove", reinterpret_cast<void *>(&memmove));
    if (auto err = main.define(llvm::orc::absoluteSymbols(std::move(builtins)))) {
        set_error(error, error_size, "cannot define the JIT's runtime symbols: " + llvm::toString(std::move(err)));
        delete e;
        return false;
    }
    e->tracker = main.createResourceTracker();

    llvm::PassBuilder pb;
    pb.registerModuleAnalyses(e->mam);
    pb.registerCGSCCAnalyses(e->cgam);
    pb.registerFunctionAnalyses(e->fam);
    pb.registerLoopAnalyses(e->lam);
    pb.crossRegisterProxies(e->lam, e->fam, e->cgam, e->mam);
    e->fpm.addPass(llvm::PromotePass());
    e->fpm.addPass(llvm::InstCombinePass());
    e->fpm.addPass(llvm::SimplifyCFGPass());
    engine = e;
    return true;
}

extern "C" LLVMContextRef hypanda_jit_context(void)
{
    return llvm::wrap(engine->context.getContext());
}

extern "C" void hypanda_jit_lock(void)
{
    engine->lock.lock();
}

extern "C" void hypanda_jit_unlock(void)
{
    engine->lock.unlock();
}

extern "C" void hypanda_jit_add_function_pass(HypandaJitFunctionPass pass, void *opaque)
{
    engine->plugin_passes.emplace_back(pass, opaque);
}

extern "C" void *hypanda_jit_compile(LLVMModuleRef module_ref, const char *name, char *error, size_t error_size)
{
    std::unique_ptr<llvm::Module> module(llvm::unwrap(module_ref));
    llvm::Function *fn = module->getFunction(name);
    if (fn == nullptr) {
        set_error(error, error_size, std::string("the lifted module has no function ") + name);
        return nullptr;
    }
    std::string problems;
    llvm::raw_string_ostream os(problems);
    if (llvm::verifyFunction(*fn, &os)) {
        os.flush();
        set_error(error, error_size, "the lifted function is not valid LLVM IR: " + problems.substr(0, 200));
        return nullptr;
    }
    uint64_t t0 = now_ns();
    engine->fpm.run(*fn, engine->fam);
    for (auto &[pass, opaque] : engine->plugin_passes) {
        pass(llvm::wrap(static_cast<llvm::Value *>(fn)), opaque);
    }
    engine->fam.clear();
    uint64_t t1 = now_ns();
    times.optimize_ns += t1 - t0;

    if (arena.used() > Arena::kSize - (Arena::kSize / 8)) {
        set_error(error, error_size, "the JIT's code arena is full");
        return nullptr;
    }
    auto &jit = *engine->jit;
    if (auto err = jit.addIRModule(engine->tracker, llvm::orc::ThreadSafeModule(std::move(module), engine->context))) {
        set_error(error, error_size, "the JIT refused the block: " + llvm::toString(std::move(err)));
        return nullptr;
    }
    auto symbol = jit.lookup(name);
    if (!symbol) {
        set_error(error, error_size, "the JIT could not compile the block: " + llvm::toString(symbol.takeError()));
        return nullptr;
    }
    times.compile_ns += now_ns() - t1;
    times.code_bytes = arena.used();
    return reinterpret_cast<void *>(symbol->getAddress());
}

extern "C" void hypanda_jit_times(HypandaJitTimes *out)
{
    *out = times;
}

extern "C" bool hypanda_jit_nearly_full(void)
{
    return engine != nullptr && arena.used() > Arena::kSize / 4 * 3;
}

extern "C" void hypanda_jit_drop_all(void)
{
    if (engine == nullptr) {
        return;
    }
    std::lock_guard<std::mutex> hold(engine->lock);
    if (auto err = engine->tracker->remove()) {
        llvm::consumeError(std::move(err));
    }
    engine->tracker = engine->jit->getMainJITDylib().createResourceTracker();
    arena.reset();
}
