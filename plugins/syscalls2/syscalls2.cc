// syscalls2: every Linux system call the guest makes, named and typed from
// the kernel's own tables (gen-syscalls2.py), as PPP callbacks and,
// optionally, a log. See README.md.
//
// Entry: the system-call instructions (SYSCALL 0F 05, SYSENTER 0F 34,
// INT 0x80 CD 80) are marked when translated and seen by insn_exec before
// they run, in user mode. SYSCALL from 64-bit code uses the x86_64 table
// and RDI, RSI, RDX, R10, R8, R9; INT 0x80, SYSENTER and SYSCALL from a
// 32-bit code segment use the i386 table and EBX, ECX, EDX, ESI, EDI, EBP
// (for SYSENTER the sixth argument is where Linux's vDSO put it: at the
// user stack pointer).
//
// Return: each thread has a stack of calls in progress (a signal handler
// may make calls while one waits). The instruction after every system-call
// instruction (its return point) is marked when translated too; a thread
// executing it in user mode with the stack pointer of its innermost call
// has returned from that call. A successful execve returns into a new
// program and rt_sigreturn into the interrupted context instead: those
// returns are reported at the thread's next system-call event (its next
// call, or a return point it reaches). Threads are told apart by osi's
// thread id (the kernel's task), so context switches, fork, clone and
// execve keep calls and returns paired; when osi cannot read the kernel,
// by address space. No callback runs for ordinary blocks, except in
// logging mode while a string argument waits to be read (below).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "osi/osi.h"
#include "syscalls2_table.h"

PPP_CB_EXTERN(on_all_sys_enter);
PPP_CB_EXTERN(on_all_sys_return);
PPP_CB_EXTERN(on_unknown_sys_enter);
PPP_CB_EXTERN(on_unknown_sys_return);

namespace {

enum class Abi { kX86_64, kI386 };

struct Pending {
    Abi abi;
    uint64_t number;
    const syscalls2::Call* call;  // nullptr: unknown number
    uint64_t args[6];
    target_ulong pc;         // of the system-call instruction
    target_ulong return_pc;  // the instruction after it
    uint64_t sp;
    nlohmann::json logged;   // with a log: the arguments as read at entry
    bool unread = false;     // a string argument's page was not mapped at entry
};

struct Thread {
    int32_t pid = 0, tid = 0;
    std::vector<Pending> calls;
};

OsiThread* (*osi_thread)(CPUState*);
void (*osi_free_thread)(OsiThread*);

std::unordered_map<uint64_t, Thread> threads;  // by thread key
int unread_calls;                               // calls whose strings wait to be read
uint64_t unread_tries;                          // kernel blocks spent trying since the last read
constexpr uint64_t kUnreadBudget = 1000000;     // then they are logged as pointers

FILE* log_file;
bool log_json;
size_t max_string = 4096;

uint64_t reg(CPUState* cpu, panda_reg r) {
    uint64_t v = 0;
    panda_reg_read(cpu, r, &v);
    return v;
}

// The running thread: its key and, when osi can tell, pid and tid.
uint64_t thread_key(CPUState* cpu, int32_t* pid, int32_t* tid) {
    *pid = *tid = -1;
    if (osi_thread != nullptr) {
        if (OsiThread* t = osi_thread(cpu)) {
            *pid = t->pid;
            *tid = t->tid;
            osi_free_thread(t);
            return (uint64_t{1} << 63) | static_cast<uint32_t>(*tid);
        }
    }
    // No osi answer: the address space (threads of one process share it).
    return panda_current_asid(cpu);
}

bool is_noreturn(const Pending& p) {
    return p.call != nullptr && (std::strcmp(p.call->name, "exit") == 0 ||
                                 std::strcmp(p.call->name, "exit_group") == 0);
}

bool named(const Pending& p, const char* a, const char* b = nullptr) {
    return p.call != nullptr &&
           (std::strcmp(p.call->name, a) == 0 || (b != nullptr && std::strcmp(p.call->name, b) == 0));
}

// ---- The log ---------------------------------------------------------------------

std::string quoted(const std::string& bytes, bool truncated) {
    std::string out = "\"";
    for (unsigned char c : bytes) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
            if (c < 0x20 || c >= 0x7f) {
                char esc[8];
                std::snprintf(esc, sizeof esc, "\\x%02x", c);
                out += esc;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    return out + (truncated ? "\"..." : "\"");
}

std::string read_guest(CPUState* cpu, uint64_t addr, size_t len, bool stop_at_nul, bool* ok) {
    std::string out;
    *ok = true;
    char chunk[256];
    while (out.size() < len) {
        const size_t page_left = 0x1000 - ((addr + out.size()) & 0xfff);
        const size_t n = std::min({sizeof chunk, len - out.size(), page_left});
        if (panda_virtual_memory_rw(cpu, addr + out.size(), reinterpret_cast<uint8_t*>(chunk),
                                    static_cast<int>(n), 0) != 0) {
            *ok = false;
            return out;
        }
        if (stop_at_nul) {
            if (const void* nul = std::memchr(chunk, '\0', n)) {
                out.append(chunk, static_cast<const char*>(nul) - chunk);
                return out;
            }
        }
        out.append(chunk, n);
    }
    return out;
}

// One argument as the log shows it; `ret` is set at return (buffers the
// call filled are read then).
nlohmann::json arg_value(CPUState* cpu, const syscalls2::Arg& a, uint64_t v, const Pending& p, int index,
                         const int64_t* ret) {
    using syscalls2::ArgKind;
    if (a.bits == 32) {
        v = a.kind == ArgKind::kInt ? static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v)))
                                    : static_cast<uint32_t>(v);
    }
    if (p.abi == Abi::kI386 && (a.kind == ArgKind::kStr || a.kind == ArgKind::kBufin ||
                                a.kind == ArgKind::kBufout || a.kind == ArgKind::kPtr)) {
        v = static_cast<uint32_t>(v);
    }
    bool ok = true;
    switch (a.kind) {
    case ArgKind::kInt:
        return static_cast<int64_t>(v);
    case ArgKind::kUint:
        return v;
    case ArgKind::kStr:
        if (v != 0) {
            std::string s = read_guest(cpu, v, max_string + 1, true, &ok);
            if (ok) {
                return nlohmann::json{{"str", s}, {"ptr", v}};
            }
        }
        break;
    case ArgKind::kBufin:
    case ArgKind::kBufout: {
        // How many bytes: the next argument for input, the result for output.
        uint64_t n = a.kind == ArgKind::kBufin ? (index + 1 < 6 ? p.args[index + 1] : 0)
                                               : (ret != nullptr && *ret > 0 ? *ret : 0);
        if (a.kind == ArgKind::kBufout && ret == nullptr) {
            break;  // not filled yet
        }
        if (v != 0 && (a.kind == ArgKind::kBufin || *ret >= 0)) {
            std::string s = read_guest(cpu, v, std::min<uint64_t>(n, max_string), false, &ok);
            if (ok) {
                return nlohmann::json{{"buf", s}, {"len", n}, {"ptr", v}};
            }
        }
        break;
    }
    case ArgKind::kPtr:
        break;
    }
    return nlohmann::json{{"ptr", v}};
}

std::string hex(uint64_t v) {
    char s[24];
    std::snprintf(s, sizeof s, "0x%" PRIx64, v);
    return s;
}

std::string text_value(const nlohmann::json& v) {
    if (v.is_number_integer() && !v.is_number_unsigned()) {
        return std::to_string(v.get<int64_t>());
    }
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        return u >= 0x10000 ? hex(u) : std::to_string(u);  // addresses, flags words
    }
    if (v.contains("str")) {
        const std::string s = v["str"];
        return s.size() > max_string ? quoted(s.substr(0, max_string), true) : quoted(s, false);
    }
    if (v.contains("buf")) {
        const std::string s = v["buf"];
        return quoted(s, s.size() < v["len"].get<uint64_t>());
    }
    const uint64_t p = v["ptr"];
    return p == 0 ? "NULL" : hex(p);
}

// The arguments as the log shows them at entry (what the call reads is
// read now: a successful execve leaves no old memory to read afterwards).
nlohmann::json entry_args(CPUState* cpu, const Pending& p) {
    nlohmann::json args = nlohmann::json::array();
    if (p.call != nullptr) {
        for (int i = 0; i < p.call->nargs; i++) {
            args.push_back(arg_value(cpu, p.call->args[i], p.args[i], p, i, nullptr));
        }
    }
    return args;
}

// Whether a string argument could not be read (its page not mapped yet:
// the kernel maps it when it copies the string, during the call).
bool has_unread_string(const Pending& p) {
    for (int i = 0; p.call != nullptr && i < p.call->nargs; i++) {
        if (p.call->args[i].kind == syscalls2::ArgKind::kStr && p.args[i] != 0 && !p.logged[i].contains("str")) {
            return true;
        }
    }
    return false;
}

// Reads the strings of `p` that were not readable at entry; called while
// the thread runs kernel code for the call, still in its address space
// (a successful execve replaces it before returning).
void retry_strings(CPUState* cpu, Pending& p) {
    for (int i = 0; i < p.call->nargs; i++) {
        if (p.call->args[i].kind == syscalls2::ArgKind::kStr && !p.logged[i].contains("str")) {
            p.logged[i] = arg_value(cpu, p.call->args[i], p.args[i], p, i, nullptr);
        }
    }
    if (!has_unread_string(p)) {
        p.unread = false;
        unread_calls--;
        unread_tries = 0;
    }
}

// Logs a call: at its return (`ret` set; buffers the call filled are read
// now) or, for exit and exit_group, at entry (`ret` nullptr: "= ?").
void log_call(CPUState* cpu, const Thread& t, const Pending& p, const int64_t* ret) {
    nlohmann::json args = p.logged;
    if (p.call != nullptr && ret != nullptr) {
        for (int i = 0; i < p.call->nargs; i++) {
            if (p.call->args[i].kind == syscalls2::ArgKind::kBufout) {
                args[i] = arg_value(cpu, p.call->args[i], p.args[i], p, i, ret);
            }
        }
    }
    const std::string name = p.call != nullptr ? p.call->name : "syscall_" + std::to_string(p.number);
    const char* abi = p.abi == Abi::kX86_64 ? "x86_64" : "i386";
    if (log_json) {
        nlohmann::json line = {{"pid", t.pid}, {"tid", t.tid}, {"abi", abi}, {"nr", p.number},
                               {"name", name}, {"pc", p.pc}, {"args", args}};
        line["ret"] = ret != nullptr ? nlohmann::json(*ret) : nlohmann::json(nullptr);
        std::fprintf(log_file, "%s\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return;
    }
    std::string line = std::to_string(t.pid) + " " + std::to_string(t.tid) + " " +
                       (p.abi == Abi::kI386 ? "i386:" : "") + name + "(";
    for (size_t i = 0; i < args.size(); i++) {
        line += (i ? ", " : "") + text_value(args[i]);
    }
    line += ") = ";
    if (ret == nullptr) {
        line += "?";
    } else if (*ret >= 0x10000) {
        line += hex(static_cast<uint64_t>(*ret));
    } else {
        line += std::to_string(*ret);
    }
    std::fprintf(log_file, "%s\n", line.c_str());
}

// ---- Entry and return -------------------------------------------------------------

bool is_syscall_bytes(const uint8_t* b) {
    return (b[0] == 0x0f && (b[1] == 0x05 || b[1] == 0x34)) || (b[0] == 0xcd && b[1] == 0x80);
}

// A system-call instruction, or the instruction after one (where the call
// returns). Bytes that only look like one cost a lookup when run, nothing more.
bool is_syscall_or_return_point(CPUState* cpu, target_ulong pc) {
    uint8_t b[4];
    if (panda_virtual_memory_rw(cpu, pc - 2, b, 4, 0) != 0) {
        return panda_virtual_memory_rw(cpu, pc, b + 2, 2, 0) == 0 && is_syscall_bytes(b + 2);
    }
    return is_syscall_bytes(b) || is_syscall_bytes(b + 2);
}

void returned(CPUState* cpu, Thread& t, target_ulong pc, bool have_result);
Thread* thread_of(CPUState* cpu, bool create);

// At a thread's system-call event at `pc` (a call or a return point): an
// execve or rt_sigreturn waiting on top went elsewhere, so it returned.
void settle_deferred(CPUState* cpu, Thread& t, target_ulong pc) {
    while (!t.calls.empty() && t.calls.back().return_pc != pc &&
           (named(t.calls.back(), "execve", "execveat") || named(t.calls.back(), "rt_sigreturn", "sigreturn"))) {
        returned(cpu, t, pc, false);
    }
}

void on_return_point(CPUState* cpu, target_ulong pc) {
    Thread* t = thread_of(cpu, false);
    if (t == nullptr || t->calls.empty()) {
        return;
    }
    settle_deferred(cpu, *t, pc);
    if (!t->calls.empty() && t->calls.back().return_pc == pc && t->calls.back().sp == reg(cpu, PANDA_REG_SP)) {
        returned(cpu, *t, pc, true);
    }
}

int on_insn_exec(CPUState* cpu, target_ulong pc) {
    if (panda_in_kernel(cpu)) {
        return 0;
    }
    uint8_t b[4];
    const bool around = panda_virtual_memory_rw(cpu, pc - 2, b, 4, 0) == 0;
    if (!around && panda_virtual_memory_rw(cpu, pc, b + 2, 2, 0) != 0) {
        return 0;
    }
    if (around && is_syscall_bytes(b)) {
        on_return_point(cpu, pc);
    }
    if (!is_syscall_bytes(b + 2)) {
        return 0;
    }
    b[0] = b[2];
    b[1] = b[3];
    const bool int80 = b[0] == 0xcd, sysenter = b[0] == 0x0f && b[1] == 0x34;
    constexpr uint64_t kLinuxUser32Cs = 0x23;
    const bool compat = int80 || sysenter || reg(cpu, PANDA_REG_X86_CS) == kLinuxUser32Cs;
    Pending p{};
    p.abi = compat ? Abi::kI386 : Abi::kX86_64;
    p.pc = pc;
    p.return_pc = pc + 2;
    p.sp = reg(cpu, PANDA_REG_SP);
    if (compat) {
        p.number = static_cast<uint32_t>(reg(cpu, PANDA_REG_X86_RAX));
        const panda_reg regs[6] = {PANDA_REG_X86_RBX, PANDA_REG_X86_RCX, PANDA_REG_X86_RDX,
                                   PANDA_REG_X86_RSI, PANDA_REG_X86_RDI, PANDA_REG_X86_RBP};
        for (int i = 0; i < 6; i++) {
            p.args[i] = static_cast<uint32_t>(reg(cpu, regs[i]));
        }
        if (sysenter) {
            uint32_t ebp = 0;  // the vDSO pushed EBP, the sixth argument, at ESP
            panda_virtual_memory_rw(cpu, static_cast<uint32_t>(p.sp), reinterpret_cast<uint8_t*>(&ebp), 4, 0);
            p.args[5] = ebp;
        }
        p.call = p.number < static_cast<uint64_t>(syscalls2::i386_count) && syscalls2::i386_calls[p.number].name
                     ? &syscalls2::i386_calls[p.number]
                     : nullptr;
    } else {
        p.number = reg(cpu, PANDA_REG_X86_RAX);
        const panda_reg regs[6] = {PANDA_REG_X86_RDI, PANDA_REG_X86_RSI, PANDA_REG_X86_RDX,
                                   PANDA_REG_X86_R10, PANDA_REG_X86_R8,  PANDA_REG_X86_R9};
        for (int i = 0; i < 6; i++) {
            p.args[i] = reg(cpu, regs[i]);
        }
        p.call = p.number < static_cast<uint64_t>(syscalls2::x86_64_count) && syscalls2::x86_64_calls[p.number].name
                     ? &syscalls2::x86_64_calls[p.number]
                     : nullptr;
    }

    Thread& t = *thread_of(cpu, true);
    settle_deferred(cpu, t, pc);
    // The same instruction again on the same stack: the kernel restarted the
    // call (after a signal), which never returned.
    if (!t.calls.empty() && t.calls.back().pc == pc && t.calls.back().sp == p.sp) {
        unread_calls -= t.calls.back().unread;
        t.calls.pop_back();
    }
    PPP_RUN_CB(on_all_sys_enter, cpu, pc, p.number);
    if (p.call != nullptr) {
        p.call->enter(cpu, pc, p.args);
    } else {
        PPP_RUN_CB(on_unknown_sys_enter, cpu, pc, p.number);
    }
    if (log_file != nullptr) {
        p.logged = entry_args(cpu, p);
        p.unread = has_unread_string(p);
        unread_calls += p.unread;
    }
    if (is_noreturn(p)) {
        if (log_file != nullptr) {
            log_call(cpu, t, p, nullptr);
        }
        return 0;
    }
    t.calls.push_back(p);
    return 0;
}

Thread* thread_of(CPUState* cpu, bool create) {
    int32_t pid, tid;
    const uint64_t key = thread_key(cpu, &pid, &tid);
    auto it = threads.find(key);
    if (it == threads.end()) {
        if (!create) {
            return nullptr;
        }
        it = threads.emplace(key, Thread{}).first;
    }
    it->second.pid = pid;
    it->second.tid = tid;
    return &it->second;
}

// The innermost call of `t` returned. `have_result`: RAX holds its result
// (false for a deferred return: execve's is 0, rt_sigreturn's unknown).
void returned(CPUState* cpu, Thread& t, target_ulong pc, bool have_result) {
    const Pending p = t.calls.back();
    t.calls.pop_back();
    unread_calls -= p.unread;
    int64_t ret = have_result ? static_cast<int64_t>(reg(cpu, PANDA_REG_X86_RAX)) : 0;
    if (p.abi == Abi::kI386) {
        ret = static_cast<int32_t>(ret);
    }
    const bool known = have_result || named(p, "execve", "execveat");
    if (log_file != nullptr) {
        log_call(cpu, t, p, known ? &ret : nullptr);
    }
    if (p.call != nullptr) {
        p.call->ret(cpu, pc, p.args);
    } else {
        PPP_RUN_CB(on_unknown_sys_return, cpu, pc, p.number);
    }
    PPP_RUN_CB(on_all_sys_return, cpu, pc, p.number);
}

// Logging mode only: while a call's string argument waits to be read, each
// kernel block of its thread tries again.
int before_block_exec(CPUState* cpu, TranslationBlock*) {
    if (unread_calls == 0 || !panda_in_kernel(cpu)) {
        return 0;
    }
    if (++unread_tries > kUnreadBudget) {
        // A thread that died in its call (or a string that is never
        // mapped): stop looking; those arguments stay pointers.
        for (auto& [key, thread] : threads) {
            for (auto& call : thread.calls) {
                call.unread = false;
            }
        }
        unread_calls = 0;
        unread_tries = 0;
        return 0;
    }
    Thread* t = thread_of(cpu, false);
    if (t != nullptr && !t->calls.empty() && t->calls.back().unread) {
        retry_strings(cpu, t->calls.back());
    }
    return 0;
}

int engine_changed(CPUState*, int engine) {
    if (engine == PANDA_ENGINE_TCG) {
        threads.clear();  // calls made under KVM were not seen
        unread_calls = 0;
    }
    return 0;
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    panda_arg_list* args = panda_get_args("syscalls2");
    const std::string log = panda_parse_string_opt(args, "log", "", "write every call to this file");
    const std::string format = panda_parse_string_opt(args, "log_format", "text", "text or json");
    max_string = panda_parse_uint64_opt(args, "max_string", 4096, "bytes of strings and buffers logged");
    panda_free_args(args);
    if (format != "text" && format != "json") {
        std::fprintf(stderr, "plugin 'syscalls2': argument 'log_format': '%s' is not text or json\n",
                     format.c_str());
        return false;
    }
    log_json = format == "json";
    if (!log.empty()) {
        log_file = std::fopen(log.c_str(), "w");
        if (log_file == nullptr) {
            std::fprintf(stderr, "plugin 'syscalls2': argument 'log': cannot write %s: %s\n", log.c_str(),
                         std::strerror(errno));
            return false;
        }
    }
    if (panda_require("osi") == nullptr) {
        return false;
    }
    osi_thread = PANDA_IMPORT("osi", get_current_thread);
    osi_free_thread = PANDA_IMPORT("osi", free_osithread);

    panda_cb cb;
    cb.insn_translate = is_syscall_or_return_point;
    panda_register_callback(self, PANDA_CB_INSN_TRANSLATE, cb);
    cb.insn_exec = on_insn_exec;
    panda_register_callback(self, PANDA_CB_INSN_EXEC, cb);
    if (log_file != nullptr) {
        cb.before_block_exec = before_block_exec;
        panda_register_callback(self, PANDA_CB_BEFORE_BLOCK_EXEC, cb);
    }
    cb.engine_changed = engine_changed;
    panda_register_callback(self, PANDA_CB_ENGINE_CHANGED, cb);
    return true;
}

extern "C" void uninit_plugin(void*) {
    if (log_file != nullptr) {
        std::fclose(log_file);
        log_file = nullptr;
    }
    threads.clear();
}
