// llvm_trace: the LLVM IR of every block the LLVM engine runs, and a
// dynamic log of the run (blocks, guest loads and stores, branch
// directions) from which hypanda-llvm-trace re-walks the execution. Turns
// LLVM mode on at load. Formats: trace_format.h; usage: README.md.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <unistd.h>

#include <panda/llvm_pass.h>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "trace_format.h"

namespace {

namespace fmt = hypanda::llvm_trace;

FILE* blocks_file;
FILE* log_file;

// One record, written whole (stdio locks per call, so records from
// several vCPU threads do not interleave inside each other).
void put(char tag, const uint64_t* payload) {
    unsigned char rec[9];
    rec[0] = static_cast<unsigned char>(tag);
    size_t n = 1;
    if (payload != nullptr) {
        for (int i = 0; i < 8; i++) {
            rec[1 + i] = static_cast<unsigned char>(*payload >> (8 * i));
        }
        n = 9;
    }
    fwrite(rec, 1, n, log_file);
}

// Called by the instrumented blocks.
extern "C" void llvm_trace_block(uint64_t n) { put(fmt::kBlock, &n); }
extern "C" void llvm_trace_load(uint64_t addr) { put(fmt::kLoad, &addr); }
extern "C" void llvm_trace_store(uint64_t addr) { put(fmt::kStore, &addr); }
extern "C" void llvm_trace_branch(uint8_t taken) { put(taken ? fmt::kTrue : fmt::kFalse, nullptr); }
extern "C" void llvm_trace_switch(uint64_t value) { put(fmt::kSwitch, &value); }
extern "C" void llvm_trace_returned(void) { put(fmt::kReturned, nullptr); }

// The accesses QEMU's helpers make for an instruction (descriptor tables,
// IRET's frame, ...), from the memory callbacks: they fall between the
// helper's call and its returned record. The instructions' own accesses are
// logged by the instrumented code, and delivery accesses happen between
// blocks (no block made them).
int on_read(CPUState*, target_ulong, target_ulong addr, target_ulong, void*) {
    if (panda_mem_access_origin() == PANDA_MEM_BY_HELPER) {
        llvm_trace_load(addr);
    }
    return 0;
}

int on_write(CPUState*, target_ulong, target_ulong addr, target_ulong, void*) {
    if (panda_mem_access_origin() == PANDA_MEM_BY_HELPER) {
        llvm_trace_store(addr);
    }
    return 0;
}

// A call of one of the functions above from the JIT's code, with its
// argument (if any) widened to the parameter's type.
void call(llvm::IRBuilder<>& b, void* fn, llvm::Type* param, llvm::Value* arg) {
    auto* ty = param ? llvm::FunctionType::get(b.getVoidTy(), {param}, false)
                     : llvm::FunctionType::get(b.getVoidTy(), false);
    llvm::Value* callee = b.CreateIntToPtr(b.getInt64(reinterpret_cast<uintptr_t>(fn)), ty->getPointerTo());
    if (param) {
        b.CreateCall(ty, callee, {b.CreateZExtOrTrunc(arg, param)});
    } else {
        b.CreateCall(ty, callee);
    }
}

// A call that may not return to the block (anything but an intrinsic or
// the tail call into the next block).
bool may_leave(const llvm::CallInst& c) {
    const llvm::Function* callee = c.getCalledFunction();
    return !c.isMustTailCall() && !(callee && callee->isIntrinsic());
}

struct Trace : llvm::PassInfoMixin<Trace> {
    llvm::PreservedAnalyses run(llvm::Function& f, llvm::FunctionAnalysisManager&) {
        if (!panda::llvm_pass::is_block(f)) {
            return llvm::PreservedAnalyses::all();
        }
        uint64_t n = 0;
        if (f.getName().drop_front(2).getAsInteger(10, n)) {
            return llvm::PreservedAnalyses::all();
        }
        // The IR as it is now, which the reader walks: the instrumentation
        // below adds calls only (none that can leave), never a branch.
        std::string text;
        llvm::raw_string_ostream os(text);
        f.getParent()->print(os, nullptr);
        os.flush();
        fprintf(blocks_file, "%stb%llu\n%s", fmt::kBlockHeader, static_cast<unsigned long long>(n), text.c_str());

        std::vector<llvm::Instruction*> sites;
        for (llvm::BasicBlock& bb : f) {
            for (llvm::Instruction& i : bb) {
                auto* c = llvm::dyn_cast<llvm::CallInst>(&i);
                auto* br = llvm::dyn_cast<llvm::BranchInst>(&i);
                if ((c && may_leave(*c)) || (br && br->isConditional()) || llvm::isa<llvm::SwitchInst>(i) ||
                    panda::llvm_pass::is_block_start(i) ||
                    panda::llvm_pass::is_guest_load(i) || panda::llvm_pass::is_guest_store(i)) {
                    sites.push_back(&i);
                }
            }
        }
        llvm::IRBuilder<> b(&*f.getEntryBlock().getFirstInsertionPt());
        for (llvm::Instruction* i : sites) {
            b.SetInsertPoint(i);
            if (panda::llvm_pass::is_block_start(*i)) {
                call(b, reinterpret_cast<void*>(&llvm_trace_block), b.getInt64Ty(), b.getInt64(n));
            } else if (auto* br = llvm::dyn_cast<llvm::BranchInst>(i)) {
                call(b, reinterpret_cast<void*>(&llvm_trace_branch), b.getInt8Ty(), br->getCondition());
            } else if (auto* sw = llvm::dyn_cast<llvm::SwitchInst>(i)) {
                call(b, reinterpret_cast<void*>(&llvm_trace_switch), b.getInt64Ty(), sw->getCondition());
            } else if (panda::llvm_pass::is_guest_load(*i) || panda::llvm_pass::is_guest_store(*i)) {
                // The address is computed before the access, logged after.
                llvm::Value* addr = panda::llvm_pass::guest_address(b, *i);
                b.SetInsertPoint(i->getNextNode());
                call(b, reinterpret_cast<void*>(panda::llvm_pass::is_guest_load(*i) ? &llvm_trace_load : &llvm_trace_store),
                     b.getInt64Ty(), addr);
            } else {
                b.SetInsertPoint(i->getNextNode());
                call(b, reinterpret_cast<void*>(&llvm_trace_returned), nullptr, nullptr);
            }
        }
        return llvm::PreservedAnalyses::none();
    }
};

int on_llvm_init(void* engine, void* passes, void* module) {
    (void)engine;
    (void)module;
    panda::llvm_pass::add(passes, Trace{});
    return 0;
}

// base/name, created or emptied; never through a symbolic link.
FILE* open_in(int dir, const char* name) {
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        return nullptr;
    }
    FILE* f = fdopen(fd, "w");
    if (f == nullptr) {
        close(fd);
    }
    return f;
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    panda_arg_list* args = panda_get_args("llvm_trace");
    std::string base = panda_parse_string_opt(args, "base", ".", "folder for llvm-blocks.ll and llvm-trace.log");
    panda_free_args(args);
    int dir = open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        fprintf(stderr, "llvm_trace: base=%s: %s\n", base.c_str(), strerror(errno));
        return false;
    }
    blocks_file = open_in(dir, fmt::kBlocksFile);
    int blocks_errno = errno;
    log_file = open_in(dir, fmt::kLogFile);
    int log_errno = errno;
    close(dir);
    if (blocks_file == nullptr || log_file == nullptr) {
        bool blocks_failed = blocks_file == nullptr;
        fprintf(stderr, "llvm_trace: cannot write %s/%s: %s\n", base.c_str(),
                blocks_failed ? fmt::kBlocksFile : fmt::kLogFile, strerror(blocks_failed ? blocks_errno : log_errno));
        if (blocks_file != nullptr) {
            fclose(blocks_file);
        }
        if (log_file != nullptr) {
            fclose(log_file);
        }
        return false;
    }
    setvbuf(log_file, nullptr, _IOFBF, 1 << 20);
    fwrite(fmt::kMagic, 1, sizeof(fmt::kMagic), log_file);

    panda_cb cb;
    cb.llvm_init = on_llvm_init;
    panda_register_callback(self, PANDA_CB_LLVM_INIT, cb);
    cb.virt_mem_read = on_read;
    panda_register_callback(self, PANDA_CB_VIRT_MEM_READ, cb);
    cb.virt_mem_write = on_write;
    panda_register_callback(self, PANDA_CB_VIRT_MEM_WRITE, cb);
    panda_enable_memcb();
    panda_enable_llvm();
    return true;
}

extern "C" void uninit_plugin(void* self) {
    (void)self;
    // Unloading drops this plugin's pass and every block compiled with it
    // (engine.c) before the plugin goes, so nothing calls in after this.
    panda_disable_llvm();
    if (fclose(log_file) != 0 || fclose(blocks_file) != 0) {
        fprintf(stderr, "llvm_trace: writing the trace failed: %s\n", strerror(errno));
    }
}
