// callstack_instr: a shadow call stack per thread (callstack_instr.h).
//
// Near CALL and RET instructions are found when code is translated
// (insn_translate decodes each instruction with Capstone, in the mode the
// CPU is in, and remembers what it found by address: kernel code by its
// address, user code by address and address space) and only they are
// instrumented: insn_exec runs just before one executes, with no decoding
// then. Before a CALL, a frame {return address, callee, stack pointer} is
// pushed on the current thread's stack and on_call runs; the callee is the
// direct call's operand, or for an indirect call the value of its register
// or memory operand, read then. A RET pops the frame whose CALL pushed the
// slot it returns from (the frame's stack pointer less the slot's width is
// RSP), with the frames above it (a longjmp or an exception skipped their
// returns), and on_ret runs for it; frames below the stack pointer are
// dead and go too (within 1 MiB). A CALL executed again on the same stack slot (it faulted
// the first time) replaces its frame. No other instruction or block is
// instrumented.
//
// Threads ("stack_type"): `heuristic` (default) keeps one stack per user
// address space (CR3) and, in the kernel, one per kernel stack (RSP with
// its low 14 bits cleared: Linux's x86_64 thread stacks are 16 KiB and
// aligned to that, so each thread and each interrupt stack has its own);
// `asid` keeps one stack per address space for user and kernel code alike
// (PANDA's `asid`).
//
// In hybrid mode the stacks are emptied whenever the guest enters TCG: what
// it called and returned from under KVM was not seen.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "callstack_instr.h"

#include <capstone/capstone.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

PPP_CB_BOILERPLATE(on_call)
PPP_CB_BOILERPLATE(on_ret)

namespace {

struct Frame {
    target_ulong return_address;
    target_ulong function;
    uint64_t sp;  // before the CALL pushed the return address
};

struct Stack {
    std::vector<Frame> frames;
};

enum class StackType { kHeuristic, kAsid };

StackType stack_type = StackType::kHeuristic;
// Decoders for 16-, 32- and 64-bit code.
enum CodeMode { kReal, kProtected32, kLong64, kModes };
csh capstone[kModes];
cs_insn* insn[kModes];
std::unordered_map<uint64_t, Stack> stacks;
std::mutex mutex;  // vCPU threads share the stacks and decoders

constexpr uint64_t kKernelStackBits = 14;           // 16 KiB thread stacks
constexpr uint64_t kKernelKey = uint64_t{1} << 63;  // keeps kernel keys apart from CR3s
constexpr uint64_t kDeadWindow = 1 << 20;           // 1 MiB: how far below a RET frames die

uint64_t reg(CPUState* cpu, panda_reg r) {
    uint64_t v = 0;
    panda_reg_read(cpu, r, &v);
    return v;
}

uint64_t stack_key(CPUState* cpu, uint64_t sp) {
    if (stack_type == StackType::kHeuristic && panda_in_kernel(cpu)) {
        return kKernelKey | (sp >> kKernelStackBits);
    }
    return panda_current_asid(cpu);
}

// The width of the code the CPU runs now: real mode (CR0.PE clear) is
// 16-bit; without long mode active (EFER.LMA) 32-bit; in long mode 64-bit
// except in Linux's 32-bit user code segment (0x23, compat processes).
// Not told apart: 16-bit protected-mode segments, which nothing the
// plugin is meant for runs.
CodeMode code_mode(CPUState* cpu) {
    if ((reg(cpu, PANDA_REG_X86_CR0) & 1) == 0) {
        return kReal;
    }
    constexpr uint64_t kEferLma = uint64_t{1} << 10;
    constexpr uint64_t kLinuxUser32Cs = 0x23;
    return (reg(cpu, PANDA_REG_X86_EFER) & kEferLma) != 0 && reg(cpu, PANDA_REG_X86_CS) != kLinuxUser32Cs
               ? kLong64
               : kProtected32;
}

// Decodes the instruction at `pc` into insn[mode]; false if it cannot be read.
const cs_insn* decode(CPUState* cpu, target_ulong pc, CodeMode mode) {
    uint8_t code[16];
    int n = sizeof code;
    // Up to the end of the page if the next one is not mapped.
    while (n > 0 && panda_virtual_memory_rw(cpu, pc, code, n, 0) != 0) {
        n = n > static_cast<int>(0x1000 - (pc & 0xfff)) ? static_cast<int>(0x1000 - (pc & 0xfff)) : 0;
    }
    const uint8_t* bytes = code;
    size_t left = static_cast<size_t>(n);
    uint64_t address = pc;
    if (n == 0 || !cs_disasm_iter(capstone[mode], &bytes, &left, &address, insn[mode])) {
        return nullptr;
    }
    return insn[mode];
}

// A CALL or RET found at translation.
struct Site {
    bool call;            // else RET
    bool wide;            // 64-bit code
    uint8_t size;         // bytes
    target_ulong target;  // a direct call's destination
    bool indirect;
    cs_x86_op operand;    // an indirect call's operand
};

std::unordered_map<uint64_t, Site> sites;  // by site_key

uint64_t site_key(CPUState* cpu, target_ulong pc) {
    // Kernel code is the same in every address space; user code is not.
    return panda_in_kernel(cpu) ? pc : pc ^ (panda_current_asid(cpu) * 0x9e3779b97f4a7c15ull);
}

bool is_call_or_ret(CPUState* cpu, target_ulong pc) {
    std::lock_guard<std::mutex> lock(mutex);
    const CodeMode mode = code_mode(cpu);
    const cs_insn* i = decode(cpu, pc, mode);
    const uint64_t key = site_key(cpu, pc);
    // Near only: lcall, lret and iret have other ids.
    if (i == nullptr || (i->id != X86_INS_CALL && i->id != X86_INS_RET)) {
        sites.erase(key);  // other code there now
        return false;
    }
    Site site{i->id == X86_INS_CALL, mode == kLong64, static_cast<uint8_t>(i->size), 0, false, {}};
    const cs_x86& x86 = i->detail->x86;
    if (site.call && x86.op_count == 1) {
        if (x86.operands[0].type == X86_OP_IMM) {
            site.target = static_cast<target_ulong>(x86.operands[0].imm);
        } else {
            site.indirect = true;
            site.operand = x86.operands[0];
        }
    }
    sites[key] = site;
    return true;
}

// The value of register `r` (a Capstone x86 register), or nullopt for one
// this plugin does not read.
std::optional<uint64_t> register_value(CPUState* cpu, x86_reg r, target_ulong next_pc) {
    static const std::map<x86_reg, std::pair<panda_reg, int>> regs = {
        {X86_REG_RAX, {PANDA_REG_X86_RAX, 64}}, {X86_REG_RCX, {PANDA_REG_X86_RCX, 64}},
        {X86_REG_RDX, {PANDA_REG_X86_RDX, 64}}, {X86_REG_RBX, {PANDA_REG_X86_RBX, 64}},
        {X86_REG_RSP, {PANDA_REG_X86_RSP, 64}}, {X86_REG_RBP, {PANDA_REG_X86_RBP, 64}},
        {X86_REG_RSI, {PANDA_REG_X86_RSI, 64}}, {X86_REG_RDI, {PANDA_REG_X86_RDI, 64}},
        {X86_REG_R8, {PANDA_REG_X86_R8, 64}},   {X86_REG_R9, {PANDA_REG_X86_R9, 64}},
        {X86_REG_R10, {PANDA_REG_X86_R10, 64}}, {X86_REG_R11, {PANDA_REG_X86_R11, 64}},
        {X86_REG_R12, {PANDA_REG_X86_R12, 64}}, {X86_REG_R13, {PANDA_REG_X86_R13, 64}},
        {X86_REG_R14, {PANDA_REG_X86_R14, 64}}, {X86_REG_R15, {PANDA_REG_X86_R15, 64}},
        {X86_REG_EAX, {PANDA_REG_X86_RAX, 32}}, {X86_REG_ECX, {PANDA_REG_X86_RCX, 32}},
        {X86_REG_EDX, {PANDA_REG_X86_RDX, 32}}, {X86_REG_EBX, {PANDA_REG_X86_RBX, 32}},
        {X86_REG_ESP, {PANDA_REG_X86_RSP, 32}}, {X86_REG_EBP, {PANDA_REG_X86_RBP, 32}},
        {X86_REG_ESI, {PANDA_REG_X86_RSI, 32}}, {X86_REG_EDI, {PANDA_REG_X86_RDI, 32}},
        {X86_REG_R8D, {PANDA_REG_X86_R8, 32}},  {X86_REG_R9D, {PANDA_REG_X86_R9, 32}},
        {X86_REG_R10D, {PANDA_REG_X86_R10, 32}}, {X86_REG_R11D, {PANDA_REG_X86_R11, 32}},
        {X86_REG_R12D, {PANDA_REG_X86_R12, 32}}, {X86_REG_R13D, {PANDA_REG_X86_R13, 32}},
        {X86_REG_R14D, {PANDA_REG_X86_R14, 32}}, {X86_REG_R15D, {PANDA_REG_X86_R15, 32}},
    };
    if (r == X86_REG_INVALID) {
        return 0;
    }
    if (r == X86_REG_RIP || r == X86_REG_EIP) {
        return next_pc;
    }
    auto it = regs.find(r);
    if (it == regs.end()) {
        return std::nullopt;
    }
    const uint64_t v = reg(cpu, it->second.first);
    return it->second.second == 32 ? static_cast<uint32_t>(v) : v;
}

// Where an indirect CALL goes: its register, or the pointer at its memory
// operand (base + index * scale + displacement, FS/GS bases included).
std::optional<uint64_t> indirect_target(CPUState* cpu, const Site& site, target_ulong pc) {
    const cs_x86_op& op = site.operand;
    const target_ulong next_pc = pc + site.size;
    if (op.type == X86_OP_REG) {
        return register_value(cpu, op.reg, next_pc);
    }
    if (op.type != X86_OP_MEM) {
        return std::nullopt;
    }
    auto base = register_value(cpu, op.mem.base, next_pc);
    auto index = register_value(cpu, op.mem.index, next_pc);
    if (!base || !index) {
        return std::nullopt;
    }
    uint64_t address = *base + *index * static_cast<uint64_t>(op.mem.scale) + static_cast<uint64_t>(op.mem.disp);
    if (op.mem.segment == X86_REG_FS) {
        address += reg(cpu, PANDA_REG_X86_FS_BASE);
    } else if (op.mem.segment == X86_REG_GS) {
        address += reg(cpu, PANDA_REG_X86_GS_BASE);
    }
    if (!site.wide) {
        address = static_cast<uint32_t>(address);
    }
    uint64_t target = 0;
    if (panda_virtual_memory_rw(cpu, address, reinterpret_cast<uint8_t*>(&target), site.wide ? 8 : 4, 0) != 0) {
        return std::nullopt;
    }
    return target;
}

int before_call_or_ret(CPUState* cpu, target_ulong pc) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = sites.find(site_key(cpu, pc));
    if (it == sites.end()) {
        return 0;  // translated as a CALL/RET, other code since (cannot happen with one vCPU)
    }
    const Site& site = it->second;
    const uint64_t sp = reg(cpu, PANDA_REG_SP);
    Stack& stack = stacks[stack_key(cpu, sp)];
    if (site.call) {
        std::optional<uint64_t> target = site.target;
        if (site.indirect) {
            target = indirect_target(cpu, site, pc);
        }
        const Frame frame{pc + site.size, target.value_or(0), sp};
        if (!stack.frames.empty() && stack.frames.back().sp == sp &&
            stack.frames.back().return_address == frame.return_address) {
            stack.frames.back() = frame;  // the same CALL again (restarted after a fault)
            return 0;
        }
        stack.frames.push_back(frame);
        PPP_RUN_CB(on_call, cpu, frame.function);
        return 0;
    }
    // RET from slot RSP: the CALL that pushed it ran with RSP + width.
    const uint64_t pushed_from = sp + (site.wide ? 8 : 4);
    auto& frames = stack.frames;
    size_t keep = frames.size();
    // Frames whose slot is at or below this one are done; only within
    // kDeadWindow, so that another thread's frames (threads share a user
    // stack in `heuristic` mode) on a stack below this one stay.
    while (keep > 0 && frames[keep - 1].sp <= pushed_from && frames[keep - 1].sp + kDeadWindow > pushed_from) {
        keep--;
    }
    if (keep < frames.size()) {
        const Frame& matched = frames[keep];
        const bool exact = matched.sp == pushed_from;
        const target_ulong function = matched.function;
        frames.resize(keep);
        if (exact) {
            PPP_RUN_CB(on_ret, cpu, function);
        }
    }
    return 0;
}

int engine_changed(CPUState*, int engine) {
    if (engine == PANDA_ENGINE_TCG) {
        std::lock_guard<std::mutex> lock(mutex);
        stacks.clear();
    }
    return 0;
}

template <typename Field>
int copy_stack(target_ulong* out, int n, CPUState* cpu, Field field) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = stacks.find(stack_key(cpu, reg(cpu, PANDA_REG_SP)));
    if (it == stacks.end() || out == nullptr || n <= 0) {
        return 0;
    }
    const auto& frames = it->second.frames;
    int written = 0;
    for (auto f = frames.rbegin(); f != frames.rend() && written < n; ++f) {
        out[written++] = field(*f);
    }
    return written;
}

}  // namespace

extern "C" int get_callers(target_ulong* callers, int n, CPUState* cpu) {
    return copy_stack(callers, n, cpu, [](const Frame& f) { return f.return_address; });
}

extern "C" int get_functions(target_ulong* functions, int n, CPUState* cpu) {
    // The innermost function is running: it is the top frame's callee.
    return copy_stack(functions, n, cpu, [](const Frame& f) { return f.function; });
}

extern "C" bool init_plugin(void* self) {
    panda_arg_list* args = panda_get_args("callstack_instr");
    const std::string type = panda_parse_string_opt(
        args, "stack_type", "heuristic",
        "heuristic (user: per address space; kernel: per kernel stack) or asid");
    panda_free_args(args);
    if (type == "asid") {
        stack_type = StackType::kAsid;
    } else if (type != "heuristic") {
        std::fprintf(stderr, "plugin 'callstack_instr': argument 'stack_type': '%s' is not "
                             "heuristic or asid\n", type.c_str());
        return false;
    }
    const cs_mode modes[kModes] = {CS_MODE_16, CS_MODE_32, CS_MODE_64};
    for (int m = 0; m < kModes; m++) {
        if (cs_open(CS_ARCH_X86, modes[m], &capstone[m]) != CS_ERR_OK) {
            std::fprintf(stderr, "plugin 'callstack_instr': Capstone cannot decode x86 code\n");
            return false;
        }
        cs_option(capstone[m], CS_OPT_DETAIL, CS_OPT_ON);
        insn[m] = cs_malloc(capstone[m]);
    }

    panda_cb cb;
    cb.insn_translate = is_call_or_ret;
    panda_register_callback(self, PANDA_CB_INSN_TRANSLATE, cb);
    cb.insn_exec = before_call_or_ret;
    panda_register_callback(self, PANDA_CB_INSN_EXEC, cb);
    cb.engine_changed = engine_changed;
    panda_register_callback(self, PANDA_CB_ENGINE_CHANGED, cb);
    return true;
}

extern "C" void uninit_plugin(void*) {

    for (int m = 0; m < kModes; m++) {
        cs_free(insn[m], 1);
        cs_close(&capstone[m]);
    }
    stacks.clear();
}
