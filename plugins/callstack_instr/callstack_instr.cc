// callstack_instr: a shadow call stack per thread (callstack_instr.h).
//
// Each translated block's last instruction is decoded with Capstone once,
// when the block is translated: a near CALL (and, for a direct call, its
// target) or a near RET. When a CALL block completes (after_block_exec),
// a frame {return address, callee} is pushed on the current thread's stack
// and on_call runs. When the block after a RET starts (before_block_exec),
// the frame whose return address it is, searched from the top, is popped
// with everything above it (frames a longjmp or an exception skipped) and
// on_ret runs for it. Only a block entered right after a RET on the same
// stack pops: code that merely jumps to a return address (the `else` of
// `if (x) f();`) does not.
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
#include <string>
#include <unordered_map>
#include <vector>

PPP_CB_BOILERPLATE(on_call)
PPP_CB_BOILERPLATE(on_ret)

namespace {

enum class Kind : uint8_t { kOther, kCall, kRet };

struct BlockEnd {
    Kind kind = Kind::kOther;
    target_ulong target = 0;  // a direct call's destination, else 0
};

struct Frame {
    target_ulong return_address;
    target_ulong function;  // 0 until known (an indirect call's first block)
};

struct Stack {
    std::vector<Frame> frames;
    bool after_ret = false;     // the last block run on this stack ended with RET
    bool callee_pending = false;  // the top frame's function is the next block's pc
};

enum class StackType { kHeuristic, kAsid };

StackType stack_type = StackType::kHeuristic;
// Decoders for 16-, 32- and 64-bit code.
enum CodeMode { kReal, kProtected32, kLong64, kModes };
csh capstone[kModes];
std::unordered_map<const TranslationBlock*, BlockEnd> block_ends;
std::unordered_map<uint64_t, Stack> stacks;

constexpr uint64_t kKernelStackBits = 14;           // 16 KiB thread stacks
constexpr uint64_t kKernelKey = uint64_t{1} << 63;  // keeps kernel keys apart from CR3s

uint64_t stack_key(CPUState* cpu) {
    if (stack_type == StackType::kHeuristic && panda_in_kernel(cpu)) {
        uint64_t sp = 0;
        panda_reg_read(cpu, PANDA_REG_SP, &sp);
        return kKernelKey | (sp >> kKernelStackBits);
    }
    return panda_current_asid(cpu);
}

// What the block's last instruction, `insn`, is for the stacks.
BlockEnd classify(const cs_insn* insn) {
    BlockEnd end;
    const cs_detail* d = insn->detail;
    bool call = false, ret = false;
    for (uint8_t i = 0; i < d->groups_count; i++) {
        call |= d->groups[i] == CS_GRP_CALL;
        ret |= d->groups[i] == CS_GRP_RET;
    }
    // Near only: a far CALL/RET (lcall, lret) changes CS.
    if (call && insn->id == X86_INS_CALL) {
        end.kind = Kind::kCall;
        const cs_x86& x86 = d->x86;
        if (x86.op_count == 1 && x86.operands[0].type == X86_OP_IMM) {
            end.target = static_cast<target_ulong>(x86.operands[0].imm);
        }
    } else if (ret && insn->id == X86_INS_RET) {
        end.kind = Kind::kRet;
    }
    return end;
}

// The width of the code the CPU runs now: real mode (CR0.PE clear) is
// 16-bit; without long mode active (EFER.LMA) 32-bit; in long mode 64-bit
// except in Linux's 32-bit user code segment (0x23, compat processes).
// Not told apart: 16-bit protected-mode segments, which nothing the
// plugin is meant for runs.
CodeMode code_mode(CPUState* cpu) {
    uint64_t cr0 = 0, efer = 0, cs = 0;
    panda_reg_read(cpu, PANDA_REG_X86_CR0, &cr0);
    panda_reg_read(cpu, PANDA_REG_X86_EFER, &efer);
    panda_reg_read(cpu, PANDA_REG_X86_CS, &cs);
    if ((cr0 & 1) == 0) {
        return kReal;
    }
    constexpr uint64_t kEferLma = uint64_t{1} << 10;
    constexpr uint64_t kLinuxUser32Cs = 0x23;
    return (efer & kEferLma) != 0 && cs != kLinuxUser32Cs ? kLong64 : kProtected32;
}

int after_block_translate(CPUState* cpu, TranslationBlock* tb) {
    const target_ulong pc = panda_tb_pc(tb);
    const uint32_t size = panda_tb_size(tb);
    BlockEnd end;
    std::vector<uint8_t> code(size);
    if (size != 0 && panda_virtual_memory_rw(cpu, pc, code.data(), static_cast<int>(size), 0) == 0) {
        const csh decoder = capstone[code_mode(cpu)];
        cs_insn* insn = cs_malloc(decoder);
        const uint8_t* bytes = code.data();
        size_t left = code.size();
        uint64_t address = pc;
        // Decode up to the last instruction and classify it (while its
        // detail is valid: a further cs_disasm_iter call clears it).
        while (left != 0 && cs_disasm_iter(decoder, &bytes, &left, &address, insn)) {
            if (left == 0) {
                end = classify(insn);
            }
        }
        cs_free(insn, 1);
    }
    block_ends[tb] = end;  // a TranslationBlock reused later is translated (and decoded) again
    return 0;
}

int before_block_exec(CPUState* cpu, TranslationBlock* tb) {
    Stack& stack = stacks[stack_key(cpu)];
    const target_ulong pc = panda_tb_pc(tb);
    if (stack.callee_pending) {
        stack.callee_pending = false;
        if (!stack.frames.empty()) {
            stack.frames.back().function = pc;
            PPP_RUN_CB(on_call, cpu, pc);
        }
    }
    if (stack.after_ret) {
        stack.after_ret = false;
        for (size_t i = stack.frames.size(); i-- > 0;) {
            if (stack.frames[i].return_address == pc) {
                const target_ulong function = stack.frames[i].function;
                stack.frames.resize(i);
                PPP_RUN_CB(on_ret, cpu, function);
                break;
            }
        }
    }
    return 0;
}

int after_block_exec(CPUState* cpu, TranslationBlock* tb, TranslationBlock* next_tb) {
    auto it = block_ends.find(tb);
    if (it == block_ends.end() || it->second.kind == Kind::kOther) {
        return 0;
    }
    Stack& stack = stacks[stack_key(cpu)];
    if (it->second.kind == Kind::kRet) {
        stack.after_ret = true;
        return 0;
    }
    const target_ulong return_address = panda_tb_pc(tb) + panda_tb_size(tb);
    target_ulong callee = it->second.target;
    if (callee == 0 && next_tb != nullptr) {
        callee = panda_tb_pc(next_tb);
    }
    stack.frames.push_back(Frame{return_address, callee});
    if (callee == 0) {
        stack.callee_pending = true;  // an indirect call whose target is not translated yet
    } else {
        PPP_RUN_CB(on_call, cpu, callee);
    }
    return 0;
}

int engine_changed(CPUState*, int engine) {
    if (engine == PANDA_ENGINE_TCG) {
        stacks.clear();
    }
    return 0;
}

template <typename Field>
int copy_stack(target_ulong* out, int n, CPUState* cpu, Field field) {
    auto it = stacks.find(stack_key(cpu));
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
    }

    panda_cb cb;
    cb.after_block_translate = after_block_translate;
    panda_register_callback(self, PANDA_CB_AFTER_BLOCK_TRANSLATE, cb);
    cb.before_block_exec = before_block_exec;
    panda_register_callback(self, PANDA_CB_BEFORE_BLOCK_EXEC, cb);
    cb.after_block_exec = after_block_exec;
    panda_register_callback(self, PANDA_CB_AFTER_BLOCK_EXEC, cb);
    cb.engine_changed = engine_changed;
    panda_register_callback(self, PANDA_CB_ENGINE_CHANGED, cb);
    // Blocks translated before this plugin was loaded were not decoded.
    panda_do_flush_tb();
    return true;
}

extern "C" void uninit_plugin(void*) {

    for (csh& c : capstone) {
        cs_close(&c);
    }
    block_ends.clear();
    stacks.clear();
}
