// osi: the OS-independent introspection API (osi.h). It does no reading
// itself: its `os` argument names the provider (`linux`: osi_linux), which
// it requires at load and whose functions of the same names it forwards
// to, so users depend on osi alone.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "osi/osi.h"

#include "osi_linux/osi_linux.h"

#include <cstdio>
#include <string>

namespace {

struct Provider {
    decltype(&get_current_process) current_process;
    decltype(&get_current_process_handle) current_process_handle;
    decltype(&get_current_thread) current_thread;
    decltype(&get_processes) processes;
    decltype(&get_process_handles) process_handles;
    decltype(&get_process) process;
    decltype(&get_mappings) mappings;
    decltype(&get_modules) modules;
    decltype(&free_osiproc) free_proc;
    decltype(&free_osiprochandle) free_handle;
    decltype(&free_osithread) free_thread;
} provider;
decltype(&osi_linux_watch_processes) watch_processes;

void forward_start(CPUState* cpu, OsiProc* p);
void forward_end(CPUState* cpu, OsiProc* p);

// The first registration for a process event asks the provider to watch.
void start_watching() {
    static bool watching;
    if (!watching && watch_processes != nullptr) {
        watching = true;
        watch_processes(forward_start, forward_end);
    }
}

}  // namespace

// The two points' lists and registration functions: PPP_CB_BOILERPLATE's,
// written out so that adding a callback starts the watching.
#define OSI_WATCHED_POINT(cb_name)                                                                        \
    panda_ppp_list ppp_##cb_name##_cbs;                                                                   \
    panda_ppp_list ppp_##cb_name##_cbs_with_context;                                                      \
    void ppp_add_cb_##cb_name(cb_name##_t fptr) {                                                         \
        panda_ppp_list_add(&ppp_##cb_name##_cbs, #cb_name, (void (*)(void))fptr, NULL);                   \
        start_watching();                                                                                 \
    }                                                                                                     \
    void ppp_add_cb_##cb_name##_slot(cb_name##_t fptr, int slot_num) {                                    \
        panda_ppp_list_put(&ppp_##cb_name##_cbs, #cb_name, slot_num, (void (*)(void))fptr, NULL);         \
        start_watching();                                                                                 \
    }                                                                                                     \
    bool ppp_remove_cb_##cb_name(cb_name##_t fptr) {                                                      \
        return panda_ppp_list_remove(&ppp_##cb_name##_cbs, (void (*)(void))fptr, NULL);                   \
    }                                                                                                     \
    void ppp_add_cb_##cb_name##_with_context(cb_name##_with_context_t fptr, void* context) {              \
        panda_ppp_list_add(&ppp_##cb_name##_cbs_with_context, #cb_name, (void (*)(void))fptr, context);   \
        start_watching();                                                                                 \
    }                                                                                                     \
    void ppp_add_cb_##cb_name##_slot_with_context(cb_name##_with_context_t fptr, int slot_num,            \
                                                  void* context) {                                        \
        panda_ppp_list_put(&ppp_##cb_name##_cbs_with_context, #cb_name, slot_num, (void (*)(void))fptr,   \
                           context);                                                                      \
        start_watching();                                                                                 \
    }                                                                                                     \
    bool ppp_remove_cb_##cb_name##_with_context(cb_name##_with_context_t fptr, void* context) {           \
        return panda_ppp_list_remove(&ppp_##cb_name##_cbs_with_context, (void (*)(void))fptr, context);   \
    }

extern "C" {
OSI_WATCHED_POINT(on_process_start)
OSI_WATCHED_POINT(on_process_end)
}

namespace {

void forward_start(CPUState* cpu, OsiProc* p) {
    PPP_RUN_CB(on_process_start, cpu, p->name, p->asid, p->pid);
}

void forward_end(CPUState* cpu, OsiProc* p) {
    PPP_RUN_CB(on_process_end, cpu, p->name, p->asid, p->pid);
}

}  // namespace

extern "C" {

OsiProc* get_current_process(CPUState* cpu) { return provider.current_process(cpu); }
OsiProcHandle* get_current_process_handle(CPUState* cpu) { return provider.current_process_handle(cpu); }
OsiThread* get_current_thread(CPUState* cpu) { return provider.current_thread(cpu); }
GArray* get_processes(CPUState* cpu) { return provider.processes(cpu); }
GArray* get_process_handles(CPUState* cpu) { return provider.process_handles(cpu); }
OsiProc* get_process(CPUState* cpu, const OsiProcHandle* h) { return provider.process(cpu, h); }
GArray* get_mappings(CPUState* cpu, OsiProc* p) { return provider.mappings(cpu, p); }
GArray* get_modules(CPUState* cpu) { return provider.modules(cpu); }
void free_osiproc(OsiProc* p) { provider.free_proc(p); }
void free_osiprochandle(OsiProcHandle* h) { provider.free_handle(h); }
void free_osithread(OsiThread* t) { provider.free_thread(t); }

bool init_plugin(void*) {
    panda_arg_list* args = panda_get_args("osi");
    const std::string os = panda_parse_string_opt(args, "os", "linux", "the guest's OS: linux");
    panda_free_args(args);
    if (os != "linux") {
        std::fprintf(stderr, "plugin 'osi': argument 'os': '%s' is not an OS osi reads (linux)\n",
                     os.c_str());
        return false;
    }
    const char* name = "osi_linux";
    if (panda_require(name) == nullptr) {
        return false;
    }
    provider = Provider{
        PANDA_IMPORT(name, get_current_process), PANDA_IMPORT(name, get_current_process_handle),
        PANDA_IMPORT(name, get_current_thread),  PANDA_IMPORT(name, get_processes),
        PANDA_IMPORT(name, get_process_handles), PANDA_IMPORT(name, get_process),
        PANDA_IMPORT(name, get_mappings),        PANDA_IMPORT(name, get_modules),
        PANDA_IMPORT(name, free_osiproc),        PANDA_IMPORT(name, free_osiprochandle),
        PANDA_IMPORT(name, free_osithread),
    };
    watch_processes = PANDA_IMPORT(name, osi_linux_watch_processes);
    return true;  // an import that failed has failed the load already
}

void uninit_plugin(void*) {
    for (panda_ppp_list* list : {&ppp_on_process_start_cbs, &ppp_on_process_start_cbs_with_context,
                                 &ppp_on_process_end_cbs, &ppp_on_process_end_cbs_with_context}) {
        free(list->entries);
        *list = panda_ppp_list{};
    }
}

}  // extern "C"
