// The LLVM engine's JIT: optimises each lifted block's module and compiles
// it with LLVM's ORC JIT into an arena of executable memory, which a
// translation-cache flush empties at once; and, for the helpers in the JIT,
// loads QEMU's helpers as bitcode (llvm/build-helpers), links them against
// the running emulator's own symbols and compiles each function the first
// time it is called, into a second arena that flushes leave alone (jit.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later

#include "jit.h"

#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ObjectTransformLayer.h>
#include <llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/ExecutionEngine/RuntimeDyld.h>
#include <llvm/CodeGen/AsmPrinter.h>
#include <llvm/CodeGen/MachineModuleInfo.h>
#include <llvm/CodeGen/Passes.h>
#include <llvm/CodeGen/TargetPassConfig.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/PassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/MC/MCAsmBackend.h>
#include <llvm/MC/MCCodeEmitter.h>
#include <llvm/MC/MCObjectWriter.h>
#include <llvm/MC/MCStreamer.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/SmallVectorMemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/DeadStoreElimination.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>
#include <llvm/Transforms/Utils/Mem2Reg.h>

// GCC 12 warns about a member LLVM 14's ModuleSummaryIndex.h initialises
// late (a false positive in LLVM's header).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <llvm/Bitcode/BitcodeReader.h>
#pragma GCC diagnostic pop
#include <llvm/ExecutionEngine/Orc/CompileOnDemandLayer.h>
#include <llvm/IR/InlineAsm.h>
#include <llvm/Support/MemoryBuffer.h>

#include <gelf.h>
#include <link.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <libelf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
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

// Blocks' code (emptied at each flush) and the helpers' (kept).
Arena arena;
Arena helper_arena;

// Which arena the next object goes to: the object layer's transform sees
// each object just before it is linked, on the same thread, and names it
// after its module (blocks' modules are "tbN").
thread_local bool next_object_is_block;

class ArenaMemoryManager : public llvm::RuntimeDyld::MemoryManager {
public:
    ArenaMemoryManager() : arena_(next_object_is_block ? arena : helper_arena) {}
    uint8_t *allocateCodeSection(uintptr_t size, unsigned alignment, unsigned, llvm::StringRef) override
    {
        return arena_.allocate(size, alignment);
    }
    uint8_t *allocateDataSection(uintptr_t size, unsigned alignment, unsigned, llvm::StringRef, bool) override
    {
        return arena_.allocate(size, alignment);
    }
    // Blocks are nounwind and have no unwind tables.
    void registerEHFrames(uint8_t *, uint64_t, size_t) override {}
    void deregisterEHFrames() override {}
    bool finalizeMemory(std::string *) override { return false; }

private:
    Arena &arena_;
};

// The running executable's own symbols, from its ELF symbol table, at their
// run-time addresses: what the helpers' bitcode refers to (QEMU's globals
// and the functions it does not carry itself) must be the emulator's own.
class ExecutableSymbols {
public:
    bool load(std::string &error)
    {
        uintptr_t bias = 0;
        dl_iterate_phdr(
            [](struct dl_phdr_info *info, size_t, void *data) {
                *static_cast<uintptr_t *>(data) = info->dlpi_addr;
                return 1;  // the first object is the executable
            },
            &bias);
        elf_version(EV_CURRENT);
        int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            error = std::string("cannot read the emulator's symbols: ") + strerror(errno);
            return false;
        }
        Elf *elf = elf_begin(fd, ELF_C_READ, nullptr);
        Elf_Scn *scn = nullptr;
        bool found = false;
        while (elf != nullptr && (scn = elf_nextscn(elf, scn)) != nullptr) {
            GElf_Shdr shdr;
            if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_SYMTAB) {
                continue;
            }
            found = true;
            Elf_Data *data = elf_getdata(scn, nullptr);
            size_t count = shdr.sh_entsize ? shdr.sh_size / shdr.sh_entsize : 0;
            for (size_t i = 0; data != nullptr && i < count; i++) {
                GElf_Sym sym;
                if (gelf_getsym(data, int(i), &sym) == nullptr || sym.st_shndx == SHN_UNDEF || sym.st_value == 0) {
                    continue;
                }
                int type = GELF_ST_TYPE(sym.st_info);
                if (type != STT_FUNC && type != STT_OBJECT) {
                    continue;
                }
                const char *name = elf_strptr(elf, shdr.sh_link, sym.st_name);
                if (name == nullptr || *name == '\0') {
                    continue;
                }
                uint64_t address = sym.st_value + bias;
                auto [it, inserted] = symbols_.emplace(name, address);
                if (!inserted && it->second != address) {
                    ambiguous_.insert(name);  // a static in several files
                }
            }
        }
        if (elf != nullptr) {
            elf_end(elf);
        }
        close(fd);
        if (!found) {
            error = "the emulator has no symbol table (stripped?), so the helpers cannot be linked to it";
            return false;
        }
        return true;
    }

    // The address of `name`, or 0 when it is not there or not unique.
    uint64_t find(const std::string &name) const
    {
        auto it = symbols_.find(name);
        return it == symbols_.end() || ambiguous_.count(name) ? 0 : it->second;
    }

private:
    std::unordered_map<std::string, uint64_t> symbols_;
    std::unordered_set<std::string> ambiguous_;
};

// Serves the JIT the executable's symbols, then the process's shared
// libraries' (dlsym).
class ExecutableSymbolGenerator : public llvm::orc::DefinitionGenerator {
public:
    explicit ExecutableSymbolGenerator(const ExecutableSymbols &symbols) : symbols_(symbols) {}

    llvm::Error tryToGenerate(llvm::orc::LookupState &, llvm::orc::LookupKind, llvm::orc::JITDylib &jd,
                              llvm::orc::JITDylibLookupFlags, const llvm::orc::SymbolLookupSet &names) override
    {
        llvm::orc::SymbolMap found;
        for (auto &[name, flags] : names) {
            uint64_t address = resolve(symbols_, std::string(*name));
            if (address != 0) {
                found[name] = llvm::JITEvaluatedSymbol(address, llvm::JITSymbolFlags::Exported);
            }
        }
        if (found.empty()) {
            return llvm::Error::success();
        }
        return jd.define(llvm::orc::absoluteSymbols(std::move(found)));
    }

    static uint64_t resolve(const ExecutableSymbols &symbols, const std::string &name)
    {
        uint64_t address = symbols.find(name);
        if (address == 0) {
            address = reinterpret_cast<uint64_t>(dlsym(RTLD_DEFAULT, name.c_str()));
        }
        return address;
    }

private:
    const ExecutableSymbols &symbols_;
};

// Code generation with one legacy pass pipeline kept for every module (what
// LLVMTargetMachine::addPassesToEmitMC builds, built once: rebuilding it per
// block cost as much as instruction selection). The AsmPrinter resets its
// streamer after each module.
class CodegenPipeline {
public:
    bool init(llvm::TargetMachine &tm)
    {
        auto &ltm = static_cast<llvm::LLVMTargetMachine &>(tm);
        auto *mmi = new llvm::MachineModuleInfoWrapperPass(&ltm);
        llvm::TargetPassConfig *config = ltm.createPassConfig(pm_);
        config->setDisableVerify(true);
        pm_.add(config);
        pm_.add(mmi);
        if (config->addISelPasses()) {
            return false;
        }
        config->addMachinePasses();
        config->setInitialized();
        llvm::MCContext &ctx = mmi->getMMI().getContext();
        const llvm::MCSubtargetInfo &sti = *tm.getMCSubtargetInfo();
        const llvm::MCRegisterInfo &mri = *tm.getMCRegisterInfo();
        const llvm::Target &target = tm.getTarget();
        llvm::MCCodeEmitter *emitter = target.createMCCodeEmitter(*tm.getMCInstrInfo(), mri, ctx);
        llvm::MCAsmBackend *backend = target.createMCAsmBackend(sti, mri, tm.Options.MCOptions);
        if (emitter == nullptr || backend == nullptr) {
            return false;
        }
        std::unique_ptr<llvm::MCStreamer> streamer(target.createMCObjectStreamer(
            tm.getTargetTriple(), ctx, std::unique_ptr<llvm::MCAsmBackend>(backend), backend->createObjectWriter(os_),
            std::unique_ptr<llvm::MCCodeEmitter>(emitter), sti, false, false, true));
        llvm::AsmPrinter *printer = target.createAsmPrinter(tm, std::move(streamer));
        if (printer == nullptr) {
            return false;
        }
        pm_.add(printer);
        pm_.add(llvm::createFreeMachineFunctionPass());
        return true;
    }

    std::unique_ptr<llvm::MemoryBuffer> run(llvm::Module &m)
    {
        std::lock_guard<std::mutex> hold(lock_);
        object_.clear();
        pm_.run(m);
        return std::make_unique<llvm::SmallVectorMemoryBuffer>(std::move(object_),
                                                               m.getModuleIdentifier() + "-object");
    }

private:
    std::mutex lock_;  // helpers compile lazily, from whichever vCPU calls one
    llvm::legacy::PassManager pm_;
    llvm::SmallVector<char, 0> object_;
    llvm::raw_svector_ostream os_{object_};
};

// Blocks get the small code model (calls to the emulator go through the
// stubs RuntimeDyld makes; everything else the lifter reaches by absolute
// constants); the helpers' bitcode refers to the emulator's globals, which
// can be any distance from the arena: the large one.
class Compiler : public llvm::orc::IRCompileLayer::IRCompiler {
public:
    explicit Compiler(llvm::orc::JITTargetMachineBuilder builder)
        : IRCompiler(llvm::orc::irManglingOptionsFromTargetOptions(builder.getOptions()))
    {
        builder.setCodeModel(llvm::CodeModel::Large);
        auto large = builder.createTargetMachine();
        builder.setCodeModel(llvm::CodeModel::Small);
        auto small = builder.createTargetMachine();
        if (!large || !small) {
            llvm::consumeError(large.takeError());
            llvm::consumeError(small.takeError());
            return;
        }
        large_ = std::move(*large);
        small_ = std::move(*small);
        ok_ = blocks_.init(*small_) && helpers_.init(*large_);
    }

    bool ok() const { return ok_; }

    llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> operator()(llvm::Module &m) override
    {
        return (m.getName().startswith("tb") ? blocks_ : helpers_).run(m);
    }

private:
    std::unique_ptr<llvm::TargetMachine> large_, small_;
    CodegenPipeline blocks_, helpers_;
    bool ok_ = false;
};

struct Engine {
    std::unique_ptr<llvm::orc::LLLazyJIT> jit;
    llvm::orc::ThreadSafeContext context;
    // The blocks' code, dropped at a flush. A tracker per 256 blocks: ORC
    // keeps a tracker's symbols in a vector it grows by one (reserve(n+1))
    // for each module added, which made adding a block cost in proportion
    // to the blocks already in its tracker.
    std::vector<llvm::orc::ResourceTrackerSP> trackers;
    size_t in_last_tracker = 0;
    // The optimisation run on each block, its analyses kept between runs.
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::FunctionPassManager fpm;
    std::vector<std::pair<HypandaJitFunctionPass, void *>> plugin_passes;
    std::mutex lock;
    // The helpers in the JIT: their own context, the executable's symbols,
    // and the helpers (helper_* functions) whose code is in the JIT.
    llvm::orc::ThreadSafeContext helper_context;
    ExecutableSymbols executable;
    // Blocks call helpers by name; the main dylib looks them up in the
    // helpers' bitcode (when in use), then among the emulator's own
    // functions, defined by address as the lifter meets them.
    llvm::orc::JITDylib *natives = nullptr;
    llvm::orc::JITDylib *helper_dylib = nullptr;
    std::unordered_set<std::string> natives_defined;
    std::unordered_set<std::string> helpers;
    std::string helper_path;
    size_t functions_native = 0;
    bool helpers_in_use = false;
};

Engine *engine;
HypandaJitTimes times;
bool verify;  // HYPANDA_LLVM_VERIFY=1: check each lifted function

void reload_helpers_locked();

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

// Where a helper's lazy compilation that failed lands: one line, and the
// emulator stops (the guest cannot go on without the helper).
void lazy_compile_failed()
{
    fprintf(stderr, "llvm: a helper in the JIT could not be compiled; stopping\n");
    _exit(1);
}

}  // namespace

extern "C" bool hypanda_jit_init(char *error, size_t error_size)
{
    if (engine != nullptr) {
        return true;
    }
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();  // the helpers' inline assembly

    std::string message;
    if (!arena.reserve(message) || !helper_arena.reserve(message)) {
        set_error(error, error_size, message);
        return false;
    }
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb) {
        set_error(error, error_size, "no LLVM target for this host: " + llvm::toString(jtmb.takeError()));
        return false;
    }
    jtmb->setCodeGenOptLevel(llvm::CodeGenOpt::None);
    // (the code models: Compiler)
    jtmb->setCodeModel(llvm::CodeModel::Large);
    auto jit = llvm::orc::LLLazyJITBuilder()
                   .setJITTargetMachineBuilder(std::move(*jtmb))
                   .setCompileFunctionCreator([](llvm::orc::JITTargetMachineBuilder builder)
                                                  -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
                       auto compiler = std::make_unique<Compiler>(std::move(builder));
                       if (!compiler->ok()) {
                           return llvm::make_error<llvm::StringError>("no code generator for this host",
                                                                      llvm::inconvertibleErrorCode());
                       }
                       return std::move(compiler);
                   })
                   .setLazyCompileFailureAddr(llvm::pointerToJITTargetAddress(&lazy_compile_failed))
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
    e->natives = &e->jit->getExecutionSession().createBareJITDylib("natives");
    main.setLinkOrder({{e->natives, llvm::orc::JITDylibLookupFlags::MatchAllSymbols}});
    e->jit->getObjTransformLayer().setTransform(
        [](std::unique_ptr<llvm::MemoryBuffer> object) -> llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> {
            next_object_is_block = object->getBufferIdentifier().startswith("tb");
            return std::move(object);
        });
    // Helper functions compiled on first call run the plugins' passes too.
    e->jit->getIRTransformLayer().setTransform(
        [](llvm::orc::ThreadSafeModule module,
           const llvm::orc::MaterializationResponsibility &) -> llvm::Expected<llvm::orc::ThreadSafeModule> {
            module.withModuleDo([](llvm::Module &m) {
                if (m.getName().startswith("tb")) {
                    return;  // blocks: done in hypanda_jit_compile
                }
                for (llvm::Function &f : m) {
                    if (!f.isDeclaration()) {
                        for (auto &[pass, opaque] : engine->plugin_passes) {
                            pass(llvm::wrap(static_cast<llvm::Value *>(&f)), opaque);
                        }
                    }
                }
            });
            return std::move(module);
        });

    llvm::PassBuilder pb;
    pb.registerModuleAnalyses(e->mam);
    pb.registerCGSCCAnalyses(e->cgam);
    pb.registerFunctionAnalyses(e->fam);
    pb.registerLoopAnalyses(e->lam);
    pb.crossRegisterProxies(e->lam, e->fam, e->cgam, e->mam);
    const char *pipeline = getenv("HYPANDA_LLVM_PIPELINE");
    if (pipeline != nullptr) {
        if (auto err = pb.parsePassPipeline(e->fpm, pipeline)) {
            set_error(error, error_size, "bad pipeline: " + llvm::toString(std::move(err)));
            return false;
        }
    } else {
        // Temps to SSA values and nothing more: InstCombine and SimplifyCFG
        // cost more than all of code generation and gained little at run
        // time (docs/performance.md).
        e->fpm.addPass(llvm::PromotePass());
    }
    verify = getenv("HYPANDA_LLVM_VERIFY") != nullptr && strcmp(getenv("HYPANDA_LLVM_VERIFY"), "1") == 0;
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

extern "C" void hypanda_jit_set_function_passes(const HypandaJitFunctionPass *passes, void *const *opaques,
                                                size_t count)
{
    std::lock_guard<std::mutex> hold(engine->lock);
    engine->plugin_passes.clear();
    for (size_t i = 0; i < count; i++) {
        engine->plugin_passes.emplace_back(passes[i], opaques[i]);
    }
    // Helpers compiled so far lack the new set: reload them, so each
    // helper is compiled again on its next call.
    if (engine->helper_dylib != nullptr && !engine->helper_path.empty()) {
        reload_helpers_locked();
    }
}

extern "C" void *hypanda_jit_engine(void)
{
    return engine != nullptr ? static_cast<llvm::orc::LLJIT *>(engine->jit.get()) : nullptr;
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
    if (verify && llvm::verifyFunction(*fn, &os)) {
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
    if (engine->trackers.empty() || engine->in_last_tracker == 256) {
        engine->trackers.push_back(jit.getMainJITDylib().createResourceTracker());
        engine->in_last_tracker = 0;
    }
    engine->in_last_tracker++;
    if (auto err = jit.addIRModule(engine->trackers.back(),
                                   llvm::orc::ThreadSafeModule(std::move(module), engine->context))) {
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

namespace {

// The name a static (internal) symbol has in the executable: llvm-link
// gives same-named statics of different files a ".N" suffix.
std::string executable_name(const llvm::GlobalValue &g)
{
    std::string name = g.getName().str();
    if (g.hasLocalLinkage()) {
        size_t dot = name.rfind('.');
        if (dot != std::string::npos && dot + 1 < name.size() &&
            name.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
            name.resize(dot);
        }
    }
    return name;
}

bool uses_thread_local(const llvm::Function &f)
{
    for (const llvm::BasicBlock &bb : f) {
        for (const llvm::Instruction &i : bb) {
            for (const llvm::Value *op : i.operands()) {
                const llvm::Value *v = op->stripPointerCasts();
                if (auto *g = llvm::dyn_cast<llvm::GlobalVariable>(v); g != nullptr && g->isThreadLocal()) {
                    return true;
                }
                if (auto *ce = llvm::dyn_cast<llvm::ConstantExpr>(op)) {
                    for (const llvm::Value *inner : ce->operands()) {
                        auto *g2 = llvm::dyn_cast<llvm::GlobalVariable>(inner->stripPointerCasts());
                        if (g2 != nullptr && g2->isThreadLocal()) {
                            return true;
                        }
                    }
                }
            }
        }
    }
    return false;
}

// Makes the helpers' module use the emulator's own state: every global
// variable the executable has becomes a reference to it (a private copy
// otherwise, constants mostly); functions that touch thread-local
// variables (which JIT code cannot reach) are called in the executable
// instead, and so are, in turn, functions calling one the executable does
// not have. Returns the helper_* functions left in the JIT.
std::unordered_set<std::string> link_to_executable(llvm::Module &m, const ExecutableSymbols &exe, size_t &native)
{
    for (llvm::GlobalVariable &g : m.globals()) {
        if (g.isDeclaration()) {
            continue;
        }
        std::string name = executable_name(g);
        llvm::GlobalValue *other = m.getNamedValue(name);
        if (!g.isThreadLocal() && exe.find(name) != 0 && (other == nullptr || other == &g)) {
            g.setInitializer(nullptr);
            g.setLinkage(llvm::GlobalValue::ExternalLinkage);
            g.setName(name);
        }
    }
    // Functions that cannot run in the JIT, to a fixed point.
    std::set<llvm::Function *> outside;
    for (llvm::Function &f : m) {
        if (!f.isDeclaration() && uses_thread_local(f)) {
            outside.insert(&f);
        }
    }
    auto resolvable = [&](llvm::Function &f) {
        if (f.isIntrinsic()) {
            return true;
        }
        if (!f.isDeclaration() && !outside.count(&f)) {
            return true;
        }
        return ExecutableSymbolGenerator::resolve(exe, executable_name(f)) != 0;
    };
    for (bool changed = true; changed;) {
        changed = false;
        for (llvm::Function &f : m) {
            if (f.isDeclaration() || outside.count(&f)) {
                continue;
            }
            for (llvm::BasicBlock &bb : f) {
                for (llvm::Instruction &i : bb) {
                    for (llvm::Value *op : i.operands()) {
                        auto *callee = llvm::dyn_cast<llvm::Function>(op->stripPointerCasts());
                        if (callee != nullptr && !resolvable(*callee)) {
                            outside.insert(&f);
                            changed = true;
                            goto next_function;
                        }
                    }
                }
            }
        next_function:;
        }
    }
    native = outside.size();
    for (llvm::Function *f : outside) {
        std::string name = executable_name(*f);
        f->deleteBody();
        f->setLinkage(llvm::GlobalValue::ExternalLinkage);
        llvm::GlobalValue *other = m.getNamedValue(name);
        if (other != nullptr && other != f) {
            // the executable's symbol is already declared: use that
            f->replaceAllUsesWith(llvm::ConstantExpr::getBitCast(other, f->getType()));
            f->eraseFromParent();
        } else {
            f->setName(name);
        }
    }
    std::unordered_set<std::string> helpers;
    for (llvm::Function &f : m) {
        if (!f.isDeclaration() && f.getName().startswith("helper_")) {
            helpers.insert(f.getName().str());
            f.setLinkage(llvm::GlobalValue::ExternalLinkage);
        }
        f.setDSOLocal(false);
    }
    for (llvm::GlobalVariable &g : m.globals()) {
        g.setDSOLocal(false);
    }
    return helpers;
}


// Reads the helpers' bitcode into a new dylib (engine->lock held).
bool load_helpers_locked(const std::string &path, std::string &error, size_t &outside)
{
    auto buffer = llvm::MemoryBuffer::getFile(path);
    if (!buffer) {
        error = "cannot read " + path + ": " + buffer.getError().message();
        return false;
    }
    auto context = std::make_unique<llvm::LLVMContext>();
    auto module = llvm::parseBitcodeFile(buffer.get()->getMemBufferRef(), *context);
    if (!module) {
        error = path + " is not LLVM bitcode this LLVM reads: " + llvm::toString(module.takeError());
        return false;
    }
    (*module)->setModuleIdentifier("helpers");
    engine->helpers = link_to_executable(**module, engine->executable, outside);
    auto &jit = *engine->jit;
    static unsigned generation;
    engine->helper_dylib = &jit.getExecutionSession().createBareJITDylib("helpers" + std::to_string(generation++));
    engine->helper_dylib->addGenerator(std::make_unique<ExecutableSymbolGenerator>(engine->executable));
    engine->helper_context = llvm::orc::ThreadSafeContext(std::move(context));
    if (auto err = jit.addLazyIRModule(*engine->helper_dylib,
                                       llvm::orc::ThreadSafeModule(std::move(*module), engine->helper_context))) {
        error = "the JIT refused the helpers: " + llvm::toString(std::move(err));
        return false;
    }
    engine->helper_path = path;
    return true;
}

void set_link_order_locked(bool helpers)
{
    llvm::orc::JITDylibSearchOrder order;
    if (helpers && engine->helper_dylib != nullptr) {
        order.push_back({engine->helper_dylib, llvm::orc::JITDylibLookupFlags::MatchAllSymbols});
    }
    order.push_back({engine->natives, llvm::orc::JITDylibLookupFlags::MatchAllSymbols});
    engine->jit->getMainJITDylib().setLinkOrder(order);
    engine->helpers_in_use = helpers;
}

// The passes changed: the helpers compiled so far go (no block refers to
// them: the translated code was flushed first) and are compiled again.
void reload_helpers_locked()
{
    llvm::orc::JITDylib *old = engine->helper_dylib;
    std::string error;
    size_t outside = 0;
    if (!load_helpers_locked(engine->helper_path, error, outside)) {
        fprintf(stderr, "llvm: reloading the helpers: %s\n", error.c_str());
        return;
    }
    set_link_order_locked(engine->helpers_in_use);
    // The old dylib stays: blocks compiled against it may still run until
    // the flush that comes with every change of passes; its code is in the
    // helper arena, which is never emptied.
    (void)old;
}

}  // namespace

extern "C" bool hypanda_jit_load_helpers(const char *path, char *error, size_t error_size, size_t *in_jit,
                                         size_t *native)
{
    std::lock_guard<std::mutex> hold(engine->lock);
    if (engine->helper_dylib != nullptr) {
        *in_jit = engine->helpers.size();
        *native = engine->functions_native;
        return true;
    }
    std::string message;
    size_t outside = 0;
    if (!engine->executable.load(message) || !load_helpers_locked(path, message, outside)) {
        set_error(error, error_size, message);
        return false;
    }
    engine->functions_native = outside;
    *in_jit = engine->helpers.size();
    *native = outside;
    return true;
}

extern "C" void hypanda_jit_use_helpers(bool on)
{
    std::lock_guard<std::mutex> hold(engine->lock);
    set_link_order_locked(on);
}

extern "C" void hypanda_jit_native(const char *symbol, const void *address)
{
    if (!engine->natives_defined.insert(symbol).second) {
        return;
    }
    llvm::orc::MangleAndInterner mangle(engine->jit->getExecutionSession(), engine->jit->getDataLayout());
    llvm::orc::SymbolMap map;
    map[mangle(symbol)] = llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(address),
                                                   llvm::JITSymbolFlags::Exported);
    if (auto err = engine->natives->define(llvm::orc::absoluteSymbols(std::move(map)))) {
        llvm::consumeError(std::move(err));
    }
}

extern "C" bool hypanda_jit_helper_in_jit(const char *symbol)
{
    return engine != nullptr && engine->helpers.count(symbol) != 0;
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
    for (auto &tracker : engine->trackers) {
        if (auto err = tracker->remove()) {
            llvm::consumeError(std::move(err));
        }
    }
    engine->trackers.clear();
    arena.reset();
}
