// The taint2 plugin (docs/taint.md): LLVM mode on, the taint pass on every
// block, the runtime over one TaintState, and a guest hypercall to label a
// buffer and to ask what a buffer's bytes carry.
//
//   -panda taint2[:out=FILE]   query answers go to FILE (default: stdout)
//
// The hypercall (x86: CPUID, PANDA's convention) with EAX = 0x746e7432
// ("2tnt"); EBX the command:
//   1  label: RDX bytes at virtual address RCX, byte k gets label RSI + k
//   2  query: one line per byte of RDX bytes at RCX:
//        TAINT <address> <labels, comma-separated> tcn <n>   or
//        TAINT <address> clean
// A byte whose page is unmapped is reported, and left, as clean.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <panda/llvm_pass.h>
#include <panda/plugin.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "pass.h"
#include "runtime.h"
#include "taint_state.h"

namespace {

using hypanda::taint2::Place;
using hypanda::taint2::Space;
using hypanda::taint2::TaintByte;
using hypanda::taint2::TaintState;

constexpr uint64_t kMagic = 0x746e7432;
constexpr uint64_t kLabel = 1, kQuery = 2;
// A query or label longer than this is refused (one error line).
constexpr uint64_t kMaxBytes = 1 << 20;

std::unique_ptr<TaintState> state;
FILE* out;

std::optional<uint64_t> physical(CPUState* cpu, uint64_t vaddr) {
    const target_ulong pa = panda_virt_to_phys(cpu, vaddr);
    if (pa == static_cast<target_ulong>(-1)) {
        return std::nullopt;
    }
    return pa;
}

void taint_pass(void* function, void* opaque) {
    (void)opaque;
    llvm::Function& f = panda::llvm_pass::function(function);
    if (panda::llvm_pass::is_block(f)) {
        hypanda::taint2::instrument(
            f, hypanda::taint2::forwarding_runtime());  // helpers' bodies: not yet
    }
}

void query(CPUState* cpu, uint64_t vaddr, uint64_t len) {
    for (uint64_t k = 0; k < len; k++) {
        const auto pa = physical(cpu, vaddr + k);
        const TaintByte b = pa ? state->get({Space::kRam, *pa}) : TaintByte{};
        if (!b.tainted()) {
            fprintf(out, "TAINT %#" PRIx64 " clean\n", vaddr + k);
            continue;
        }
        std::string labels;
        for (auto l : b.labels->labels()) {
            labels += (labels.empty() ? "" : ",") + std::to_string(l);
        }
        fprintf(out, "TAINT %#" PRIx64 " %s tcn %u\n", vaddr + k, labels.c_str(), b.tcn);
    }
    fflush(out);
}

int on_hypercall(CPUState* cpu) {
    uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0;
    if (panda_reg_read(cpu, PANDA_REG_X86_RAX, &rax) != 0 || (rax & 0xffffffff) != kMagic) {
        return 0;
    }
    panda_reg_read(cpu, PANDA_REG_X86_RBX, &rbx);
    panda_reg_read(cpu, PANDA_REG_X86_RCX, &rcx);
    panda_reg_read(cpu, PANDA_REG_X86_RDX, &rdx);
    panda_reg_read(cpu, PANDA_REG_X86_RSI, &rsi);
    if ((rbx & 0xffffffff) != kLabel && (rbx & 0xffffffff) != kQuery) {
        fprintf(stderr, "taint2: hypercall: unknown command %" PRIu64 " (1 labels, 2 queries)\n",
                rbx & 0xffffffff);
        return 1;
    }
    if (rdx > kMaxBytes) {
        fprintf(stderr,
                "taint2: hypercall: %" PRIu64 " bytes at %#" PRIx64 " is more than the %" PRIu64
                " allowed\n",
                rdx, rcx, kMaxBytes);
        return 1;
    }
    if ((rbx & 0xffffffff) == kQuery) {
        query(cpu, rcx, rdx);
        return 1;
    }
    for (uint64_t k = 0; k < rdx; k++) {
        if (const auto pa = physical(cpu, rcx + k)) {
            state->label_positional({Space::kRam, *pa}, 1,
                                    static_cast<hypanda::taint2::Label>(rsi + k));
        }
    }
    return 1;
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    panda_arg_list* args = panda_get_args("taint2");
    std::string path =
        panda_parse_string_opt(args, "out", "", "file for the query hypercall's answers (stdout)");
    panda_free_args(args);
    out = stdout;
    if (!path.empty()) {
        out = fopen(path.c_str(), "we");
        if (out == nullptr) {
            fprintf(stderr, "taint2: out=%s: %s\n", path.c_str(), strerror(errno));
            return false;
        }
    }
    state = std::make_unique<TaintState>();
    hypanda::taint2::forward_to(state.get());
    state->set_translate(
        [](void* env, uint64_t vaddr) { return physical(panda_cpu_from_env(env), vaddr); });
    panda_cb cb;
    cb.guest_hypercall = on_hypercall;
    panda_register_callback(self, PANDA_CB_GUEST_HYPERCALL, cb);
    panda_llvm_add_function_pass(nullptr, taint_pass, nullptr);
    panda_enable_llvm();
    return true;
}

extern "C" void uninit_plugin(void* self) {
    (void)self;
    // Unloading drops this plugin's pass and every block compiled with it
    // (engine.c) before the plugin goes, so nothing calls in after this.
    panda_disable_llvm();
    if (out != nullptr && out != stdout) {
        fclose(out);
    }
    out = nullptr;
    hypanda::taint2::forward_to(nullptr);
    state.reset();
}
