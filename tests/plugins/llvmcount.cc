// llvmcount: a test plugin whose llvm_init adds an LLVM pass counting the
// guest memory accesses the lifted code makes, to compare with the memory
// callbacks' counts in the same run.
//
// Arguments:
//   where=calls   (default) in each block's function, before every guest
//                 access the lifter marked (<panda/llvm_pass.h>: the TLB fast
//                 path's load or store, the slow path's softmmu helper
//                 call), an atomic add to the plugin's load or store counter
//   where=bodies  the same add at the entry of those helpers' own bodies,
//                 which passes see only with the helpers in the JIT
//   output=FILE   at uninit: "loads N", "stores N", and per block function
//                 on average the IR loads and stores the pass saw
//                 ("ir_loads_per_block", "ir_stores_per_block", x100)
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <panda/llvm_pass.h>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>

#include <cinttypes>
#include <cstdio>
#include <string>

#include "output.h"

namespace {

uint64_t loads, stores;  // added to by the instrumented code
uint64_t blocks_seen, ir_loads, ir_stores;
bool in_bodies;
std::string output;

enum class Access { none, load, store };

Access access_of(llvm::StringRef name) {
    if (!name.startswith("helper_") || !name.endswith("_mmu")) {
        return Access::none;
    }
    llvm::StringRef rest = name.drop_front(7);
    if (!(rest.startswith("ret_") || rest.startswith("le_") || rest.startswith("be_"))) {
        return Access::none;
    }
    rest = rest.drop_front(rest.find('_') + 1);
    return rest.startswith("ld") ? Access::load : rest.startswith("st") ? Access::store : Access::none;
}

void add_one(llvm::IRBuilder<>& b, uint64_t* counter) {
    llvm::Value* p = b.CreateIntToPtr(b.getInt64(reinterpret_cast<uintptr_t>(counter)),
                                      llvm::PointerType::getUnqual(b.getInt64Ty()));
    b.CreateAtomicRMW(llvm::AtomicRMWInst::Add, p, b.getInt64(1), llvm::MaybeAlign(8),
                      llvm::AtomicOrdering::Monotonic);
}

struct CountAccesses : llvm::PassInfoMixin<CountAccesses> {
    llvm::PreservedAnalyses run(llvm::Function& f, llvm::FunctionAnalysisManager&) {
        if (in_bodies) {
            Access a = access_of(f.getName());
            if (a != Access::none && !f.isDeclaration()) {
                llvm::IRBuilder<> b(&*f.getEntryBlock().getFirstInsertionPt());
                add_one(b, a == Access::load ? &loads : &stores);
            }
            return llvm::PreservedAnalyses::none();
        }
        if (!panda::llvm_pass::is_block(f)) {
            return llvm::PreservedAnalyses::all();
        }
        blocks_seen++;
        std::vector<std::pair<llvm::Instruction*, Access>> sites;
        for (llvm::BasicBlock& bb : f) {
            for (llvm::Instruction& i : bb) {
                ir_loads += llvm::isa<llvm::LoadInst>(i);
                ir_stores += llvm::isa<llvm::StoreInst>(i);
                if (panda::llvm_pass::is_guest_load(i)) {
                    sites.emplace_back(&i, Access::load);
                } else if (panda::llvm_pass::is_guest_store(i)) {
                    sites.emplace_back(&i, Access::store);
                }
            }
        }
        for (auto& [call, a] : sites) {
            llvm::IRBuilder<> b(call);
            add_one(b, a == Access::load ? &loads : &stores);
        }
        return llvm::PreservedAnalyses::none();
    }
};

int on_llvm_init(void* engine, void* passes, void* module) {
    (void)engine;
    (void)module;
    panda::llvm_pass::add(passes, CountAccesses{});
    return 0;
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    panda_arg_list* args = panda_get_args("llvmcount");
    std::string where = panda_parse_string_opt(args, "where", "calls", "calls or bodies");
    output = panda_parse_string_opt(args, "output", "", "counts file");
    panda_free_args(args);
    if (where != "calls" && where != "bodies") {
        fprintf(stderr, "llvmcount: where must be calls or bodies\n");
        return false;
    }
    in_bodies = where == "bodies";
    panda_cb cb;
    cb.llvm_init = on_llvm_init;
    panda_register_callback(self, PANDA_CB_LLVM_INIT, cb);
    return true;
}

extern "C" void uninit_plugin(void* self) {
    (void)self;
    FILE* out = test_output_open(output.c_str());
    if (out == nullptr) {
        return;
    }
    fprintf(out, "loads %" PRIu64 "\nstores %" PRIu64 "\nblocks_seen %" PRIu64 "\n", loads, stores, blocks_seen);
    fprintf(out, "ir_loads_per_block %" PRIu64 "\nir_stores_per_block %" PRIu64 "\n",
            blocks_seen ? ir_loads * 100 / blocks_seen : 0, blocks_seen ? ir_stores * 100 / blocks_seen : 0);
    test_output_close(out);
}
