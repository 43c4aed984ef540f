// The taint2 plugin (docs/taint.md): LLVM mode on, the taint pass on every
// block, the runtime over one TaintState, and a guest hypercall to label a
// buffer and to ask what a buffer's bytes carry.
//
//   -panda taint2[:out=FILE][,manual=on][,no_tp=on][,no_helpers=on]
//     out      query answers go to FILE (default: stdout)
//     manual   tracking starts only when asked (taint2_enable_taint, a
//              label), from an empty shadow state
//     no_tp    PANDA's: a tainted address does not taint what is loaded
//              or stored through it (on_ptr_load/store still run)
//     no_helpers  QEMU's helpers stay native (by default they run in the
//              JIT, instrumented: division, SSE, string and system helpers'
//              flows are followed); a native helper's result is the mix of
//              its first two arguments, and what it writes to the CPU
//              state or memory keeps its old taint
//
// Other plugins use it through taint2.h (PPP callbacks, exported queries).
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
#include "taint2/taint2.h"
#include "taint_state.h"

PPP_CB_BOILERPLATE(on_branch)
PPP_CB_BOILERPLATE(on_ptr_load)
PPP_CB_BOILERPLATE(on_ptr_store)
PPP_CB_BOILERPLATE(on_taint_change)
PPP_CB_BOILERPLATE(on_after_load)
PPP_CB_BOILERPLATE(on_after_store)

namespace {

using hypanda::taint2::Place;
using hypanda::taint2::Space;
using hypanda::taint2::TaintByte;
using hypanda::taint2::TaintState;

constexpr uint64_t kMagic = 0x746e7432;
constexpr uint64_t kLabel = 1, kQuery = 2;
// A query or label longer than this is refused (one error line).
constexpr uint64_t kMaxBytes = 1 << 20;

std::unique_ptr<TaintState> state;  // null while taint is off
FILE* out;
bool tainted_pointers = true;
bool helpers = true;  // QEMU's helpers in the JIT, instrumented
bool initialising = false;
hypanda::taint2::PassOptions pass_options;
// The guest instructions run in LLVM mode (compute numbers count each
// one's computations once), bumped by the instrumented code: one counter
// for the plugin's life, as blocks compiled for an earlier state may run.
uint32_t instructions;

// A byte of a register in the kEnv space; nothing for a register taint2
// does not follow as one field.
std::optional<Place> register_byte(int reg, int offset) {
    if (reg < PANDA_REG_X86_RAX || reg > PANDA_REG_X86_R15 || offset < 0 || offset > 7) {
        fprintf(stderr, "taint2: register %d byte %d: only RAX..R15, bytes 0..7, carry taint\n",
                reg, offset);
        return std::nullopt;
    }
    return Place{Space::kEnv, static_cast<uint64_t>(panda_reg_env_offset(reg) + offset)};
}

std::vector<TaintLabel> labels_of(TaintByte b) {
    return b.tainted() ? b.labels->labels() : std::vector<TaintLabel>{};
}

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
    // Blocks, and with the helpers in the JIT each helper function too
    // (pass.h: a frame each).
    hypanda::taint2::instrument(f, hypanda::taint2::forwarding_runtime(), pass_options);
}

// A guest access's PC: the instruction's, as the pass passes it, or for an
// access a helper makes (the pass knows no instruction there: 0) the
// current one.
uint64_t access_pc(CPUState* cpu, uint64_t pc) {
    return pc != 0 ? pc : panda_current_pc(cpu);
}

void start_tracking() {
    state = std::make_unique<TaintState>();
    state->set_tainted_pointers(tainted_pointers);
    state->set_translate([](void* env, uint64_t vaddr, uint32_t oi, bool is_write) {
        CPUState* cpu = panda_cpu_from_env(env);
        const target_ulong pa =
            panda_virt_to_phys_tlb(cpu, vaddr, static_cast<int>(oi & 15), is_write);
        return pa != static_cast<target_ulong>(-1) ? std::optional<uint64_t>(pa)
                                                   : physical(cpu, vaddr);
    });
    state->on_branch([](void* env, uint64_t pc, TaintState::Transfer kind, TaintByte what) {
        const auto labels = labels_of(what);
        PPP_RUN_CB(on_branch, panda_cpu_from_env(env), pc, kind == TaintState::Transfer::kIndirect,
                   labels.data(), static_cast<uint32_t>(labels.size()), what.tcn);
    });
    state->on_pointer([](void* env, uint64_t pc, uint64_t vaddr, uint64_t size, bool is_store,
                         TaintByte address) {
        CPUState* cpu = panda_cpu_from_env(env);
        const auto labels = labels_of(address);
        pc = access_pc(cpu, pc);
        if (is_store) {
            PPP_RUN_CB(on_ptr_store, cpu, pc, vaddr, size, labels.data(),
                       static_cast<uint32_t>(labels.size()));
        } else {
            PPP_RUN_CB(on_ptr_load, cpu, pc, vaddr, size, labels.data(),
                       static_cast<uint32_t>(labels.size()));
        }
    });
    state->on_tainted_access(
        [](void* env, uint64_t pc, uint64_t vaddr, uint64_t size, bool is_store, TaintByte what) {
            CPUState* cpu = panda_cpu_from_env(env);
            const auto labels = labels_of(what);
            pc = access_pc(cpu, pc);
            if (is_store) {
                PPP_RUN_CB(on_after_store, cpu, pc, vaddr, size, labels.data(),
                           static_cast<uint32_t>(labels.size()), what.tcn);
            } else {
                PPP_RUN_CB(on_after_load, cpu, pc, vaddr, size, labels.data(),
                           static_cast<uint32_t>(labels.size()), what.tcn);
            }
        });
    state->use_instruction_counter(&instructions);
    CPUState* cpu = nullptr;
    for (int k = 0; (cpu = panda_cpu_by_index(k)) != nullptr; k++) {
        size_t size = 0;
        void* env = panda_cpu_env(cpu, &size);
        state->add_cpu_state(env, size);
    }
    state->on_ram_change(
        [](uint64_t addr, uint64_t len) { PPP_RUN_CB(on_taint_change, addr, len); });
    hypanda::taint2::forward_to(state.get());
}

void query(CPUState* cpu, uint64_t vaddr, uint64_t len) {
    for (uint64_t k = 0; k < len; k++) {
        const auto pa = physical(cpu, vaddr + k);
        const TaintByte b = pa && state != nullptr ? state->get({Space::kRam, *pa}) : TaintByte{};
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

// Replay: a device's DMA write into guest RAM puts device data there,
// clean (label sources such as tainted_net label it after).
int on_dma(CPUState* cpu, uint32_t is_write, uint64_t src, uint64_t dest, uint32_t n) {
    (void)cpu, (void)src;
    if (is_write != 0 && state != nullptr) {
        state->clear({Space::kRam, dest}, n);
    }
    return 0;
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
    taint2_enable_taint();
    for (uint64_t k = 0; k < rdx; k++) {
        if (const auto pa = physical(cpu, rcx + k)) {
            state->label_positional({Space::kRam, *pa}, 1,
                                    static_cast<hypanda::taint2::Label>(rsi + k));
        }
    }
    return 1;
}

}  // namespace

bool taint2_enabled(void) {
    return state != nullptr;
}

void taint2_enable_taint(void) {
    if (state != nullptr) {
        return;
    }
    if (!initialising) {
        fprintf(stderr, "taint2: taint tracking on from here, with an empty shadow state\n");
    }
    start_tracking();
    panda_enable_llvm();
    if (helpers) {
        panda_enable_llvm_helpers();
    }
}

void taint2_disable_taint(void) {
    if (state == nullptr) {
        return;
    }
    hypanda::taint2::forward_to(nullptr);
    state.reset();
    panda_disable_llvm();
}

void taint2_label_ram(uint64_t paddr, TaintLabel label) {
    taint2_enable_taint();
    state->label_all({Space::kRam, paddr}, 1, label);
}

void taint2_label_reg(int reg, int offset, TaintLabel label) {
    if (const auto p = register_byte(reg, offset)) {
        taint2_enable_taint();
        state->label_all(*p, 1, label);
    }
}

void taint2_delete_ram(uint64_t paddr) {
    if (state != nullptr) {
        state->clear({Space::kRam, paddr}, 1);
    }
}

namespace {

TaintByte ram_byte(uint64_t paddr) {
    return state != nullptr ? state->get({Space::kRam, paddr}) : TaintByte{};
}

TaintByte reg_byte(int reg, int offset) {
    const auto p = register_byte(reg, offset);
    return state != nullptr && p ? state->get(*p) : TaintByte{};
}

uint32_t copy_labels(TaintByte b, TaintLabel* out_labels, uint32_t max) {
    const auto labels = labels_of(b);
    for (uint32_t k = 0; k < max && k < labels.size(); k++) {
        out_labels[k] = labels[k];
    }
    return static_cast<uint32_t>(labels.size());
}

}  // namespace

uint32_t taint2_query_ram(uint64_t paddr) {
    return static_cast<uint32_t>(labels_of(ram_byte(paddr)).size());
}
uint32_t taint2_query_reg(int reg, int offset) {
    return static_cast<uint32_t>(labels_of(reg_byte(reg, offset)).size());
}
uint32_t taint2_query_tcn_ram(uint64_t paddr) {
    return ram_byte(paddr).tcn;
}
uint32_t taint2_query_tcn_reg(int reg, int offset) {
    return reg_byte(reg, offset).tcn;
}
uint32_t taint2_query_set_ram(uint64_t paddr, TaintLabel* out_labels, uint32_t max) {
    return copy_labels(ram_byte(paddr), out_labels, max);
}
uint32_t taint2_query_set_reg(int reg, int offset, TaintLabel* out_labels, uint32_t max) {
    return copy_labels(reg_byte(reg, offset), out_labels, max);
}

extern "C" bool init_plugin(void* self) {
    panda_arg_list* args = panda_get_args("taint2");
    std::string path =
        panda_parse_string_opt(args, "out", "", "file for the query hypercall's answers (stdout)");
    const bool enable = !panda_parse_bool_opt(
        args, "manual", "track only once asked (taint2_enable_taint, a label)");
    tainted_pointers =
        !panda_parse_bool_opt(args, "no_tp", "a tainted address taints nothing it reaches");
    helpers = !panda_parse_bool_opt(
        args, "no_helpers", "QEMU's helpers run native: flows through them are not followed");
    panda_free_args(args);
    out = stdout;
    if (!path.empty()) {
        out = fopen(path.c_str(), "we");
        if (out == nullptr) {
            fprintf(stderr, "taint2: out=%s: %s\n", path.c_str(), strerror(errno));
            return false;
        }
    }
    pass_options.pc_offset = panda_reg_env_offset(PANDA_REG_X86_RIP);
    pass_options.instruction_counter = &instructions;
    pass_options.helper_frames = helpers;
    panda_cb cb;
    cb.guest_hypercall = on_hypercall;
    panda_register_callback(self, PANDA_CB_GUEST_HYPERCALL, cb);
    cb.replay_before_cpu_physical_mem_rw_ram = on_dma;
    panda_register_callback(self, PANDA_CB_REPLAY_BEFORE_CPU_PHYSICAL_MEM_RW_RAM, cb);
    panda_llvm_add_function_pass(nullptr, taint_pass, nullptr);
    if (enable) {
        initialising = true;
        taint2_enable_taint();
        initialising = false;
    }
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
