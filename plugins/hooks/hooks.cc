// The hooks plugin (hooks.h): calls other plugins' functions before the
// guest executes chosen addresses. Hooked addresses are marked for
// instrumentation when their instruction is translated (insn_translate), so
// unhooked code runs without any call; the hooks run from insn_exec.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "hooks.h"

#include "osi/osi.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Hook {
    int id;
    target_ulong asid;  // 0: any
    std::string process;  // empty: any
    hooks_fn_t fn;
    void* context;
};

std::mutex mutex;  // hooks may be added from any thread (monitor, vCPUs)
std::unordered_map<target_ulong, std::vector<Hook>> hooks;  // by address
int last_id;
OsiProc* (*current_process)(CPUState*);  // imported from osi by the first hooks_add_process
void (*free_process)(OsiProc*);

bool in_process(CPUState* cpu, const std::string& name) {
    OsiProc* p = current_process(cpu);
    const bool same = p != nullptr && p->name != nullptr && name == p->name;
    if (p != nullptr) {
        free_process(p);
    }
    return same;
}

bool is_hooked(CPUState*, target_ulong pc) {
    std::lock_guard<std::mutex> lock(mutex);
    return hooks.count(pc) != 0;
}

int run_hooks(CPUState* cpu, target_ulong pc) {
    std::vector<Hook> here;
    {
        std::lock_guard<std::mutex> lock(mutex);
        auto it = hooks.find(pc);
        if (it == hooks.end()) {
            return 0;
        }
        here = it->second;  // a hook may add or remove hooks
    }
    const target_ulong asid = panda_current_asid(cpu);
    for (const Hook& h : here) {
        if ((h.asid != 0 && h.asid != asid) || (!h.process.empty() && !in_process(cpu, h.process))) {
            continue;
        }
        bool live;
        {
            std::lock_guard<std::mutex> lock(mutex);
            auto it = hooks.find(pc);
            live = it != hooks.end() &&
                   std::any_of(it->second.begin(), it->second.end(),
                               [&h](const Hook& o) { return o.id == h.id; });
        }
        if (live) {
            h.fn(cpu, pc, h.context);
        }
    }
    return 0;
}

}  // namespace

namespace {

int add_hook(target_ulong pc, target_ulong asid, const std::string& process, hooks_fn_t fn, void* context) {
    bool first;
    int id;
    {
        std::lock_guard<std::mutex> lock(mutex);
        auto& list = hooks[pc];
        first = list.empty();
        id = ++last_id;
        list.push_back(Hook{id, asid, process, fn, context});
    }
    if (first) {
        panda_do_flush_tb();  // code at pc may already be translated without the call
    }
    return id;
}

}  // namespace

extern "C" int hooks_add(target_ulong pc, target_ulong asid, hooks_fn_t fn, void* context) {
    if (fn == nullptr) {
        std::fprintf(stderr, "hooks: hooks_add(0x%llx): the hook function is NULL\n",
                     static_cast<unsigned long long>(pc));
        return 0;
    }
    return add_hook(pc, asid, "", fn, context);
}

extern "C" int hooks_add_process(target_ulong pc, const char* process, hooks_fn_t fn, void* context) {
    const auto fail = [pc](const char* why) {
        std::fprintf(stderr, "hooks: hooks_add_process(0x%llx): %s\n", static_cast<unsigned long long>(pc), why);
        return 0;
    };
    if (fn == nullptr) {
        return fail("the hook function is NULL");
    }
    if (process == nullptr || *process == '\0') {
        return fail("no process name");
    }
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (current_process == nullptr) {
            if (panda_get_plugin_by_name("osi") == nullptr) {
                return fail("needs the osi plugin: panda_require(\"osi\") first");
            }
            free_process = PANDA_IMPORT("osi", free_osiproc);
            current_process = free_process == nullptr ? nullptr : PANDA_IMPORT("osi", get_current_process);
            if (current_process == nullptr) {
                return 0;  // panda_import said why
            }
        }
    }
    return add_hook(pc, 0, process, fn, context);
}

extern "C" bool hooks_remove(int id) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto it = hooks.begin(); it != hooks.end(); ++it) {
        auto& list = it->second;
        auto found = std::find_if(list.begin(), list.end(), [id](const Hook& h) { return h.id == id; });
        if (found != list.end()) {
            list.erase(found);
            if (list.empty()) {
                hooks.erase(it);  // its translations keep a call that finds nothing
            }
            return true;
        }
    }
    return false;
}

extern "C" bool init_plugin(void* self) {
    panda_cb cb;
    cb.insn_translate = is_hooked;
    panda_register_callback(self, PANDA_CB_INSN_TRANSLATE, cb);
    cb.insn_exec = run_hooks;
    panda_register_callback(self, PANDA_CB_INSN_EXEC, cb);
    return true;
}

extern "C" void uninit_plugin(void*) {
    std::lock_guard<std::mutex> lock(mutex);
    hooks.clear();
    current_process = nullptr;
    free_process = nullptr;
}
