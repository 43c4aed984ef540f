// The SDK's plugin-management and argument functions, and the runtime's C
// interface to the QEMU glue (runtime.h).
//
// Requests that would change the dispatch lists (registrations, unloads)
// are carried out at once only where that is safe: on the main thread,
// outside any dispatch loop, with the vCPUs paused by the caller. Made from
// a callback, they are queued: on a vCPU thread until the next safe point
// (no vCPU runs guest code), on the main thread until the dispatch loop
// that ran the callback ends. Enabling and disabling only flip a flag and
// take effect at once.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "args.h"
#include "host.h"
#include "registry.h"
#include "runtime.h"

namespace hypanda {
namespace {

// Plugins named on the command line, loaded in order at start-up.
std::vector<PluginRequest> startup_requests;
// -panda-plugin paths are requests whose name is a path.

std::mutex pending_mutex;
std::vector<std::function<void()>> pending;
bool safe_point_scheduled = false;

thread_local int dispatch_depth;

void run_pending(void*) {
    std::vector<std::function<void()>> work;
    {
        std::lock_guard<std::mutex> lock(pending_mutex);
        work.swap(pending);
        safe_point_scheduled = false;
    }
    for (auto& w : work) {
        w();
    }
}

// Runs `fn` now when that is safe, else queues it (see the top of file).
void when_safe(std::function<void()> fn) {
    bool vcpu = hypanda_host_on_vcpu_thread();
    if (!vcpu && dispatch_depth == 0) {
        fn();
        return;
    }
    std::lock_guard<std::mutex> lock(pending_mutex);
    pending.push_back(std::move(fn));
    if (vcpu && !safe_point_scheduled) {
        safe_point_scheduled = true;
        hypanda_host_at_safe_point(run_pending, nullptr);
    }
}

// Marks a dispatch loop on a thread that is not a vCPU's; what callbacks
// queued meanwhile runs when the outermost loop ends.
class MainThreadDispatch {
public:
    MainThreadDispatch() { dispatch_depth++; }
    ~MainThreadDispatch() {
        if (--dispatch_depth == 0 && !hypanda_host_on_vcpu_thread()) {
            run_pending(nullptr);
        }
    }
    MainThreadDispatch(const MainThreadDispatch&) = delete;
    MainThreadDispatch& operator=(const MainThreadDispatch&) = delete;
};


// Calls `call(cb)` for every enabled plugin's callback of `type`.
template <typename Call>
void dispatch(panda_cb_type type, Call call) {
    for (const Callback& c : Registry::instance().callbacks(type)) {
        if (*c.enabled) {
            call(c.cb);
        }
    }
}


char* dup_message(const std::string& s) { return strdup(s.c_str()); }

// The hidden part of a panda_arg_list: which plugin it belongs to, and the
// storage behind the key and value pointers.
struct ArgListImpl {
    panda_arg_list list{};
    std::string plugin;
    std::vector<std::string> strings;
    std::vector<panda_arg> args;
};

// panda_get_args hands out &impl->list, the first member.
ArgListImpl* impl_of(panda_arg_list* args) { return reinterpret_cast<ArgListImpl*>(args); }

void report_arg_error(ArgListImpl* impl, const char* key, const std::string& what, const char* help) {
    std::string message = "plugin '" + (impl ? impl->plugin : std::string("?")) + "': argument '" +
                          key + "': " + what;
    if (help != nullptr && *help != '\0') {
        message += " (" + std::string(key) + ": " + help + ")";
    }
    hypanda_host_error(message.c_str());
    if (impl != nullptr) {
        if (Plugin* p = Registry::instance().by_name(impl->plugin)) {
            p->arg_error = true;
        }
    }
}

// The last value given for `key`, if any.
const char* lookup(panda_arg_list* args, const char* key) {
    const char* found = nullptr;
    for (int i = 0; args != nullptr && i < args->nargs; i++) {
        if (std::strcmp(args->list[i].key, key) == 0) {
            found = args->list[i].value;
        }
    }
    return found;
}

template <typename T, typename ParseFn>
T parse_typed(panda_arg_list* args, const char* key, bool required, T defval, const char* help,
              ParseFn parse) {
    const char* text = lookup(args, key);
    if (text == nullptr) {
        if (required) {
            report_arg_error(impl_of(args), key, "missing; give it with -panda-arg or -panda", help);
        }
        return defval;
    }
    auto parsed = parse(text);
    if (!parsed) {
        report_arg_error(impl_of(args), key, parsed.error, help);
        return defval;
    }
    return *parsed.value;
}

Parsed<uint64_t> parse_index(int64_t index) {
    if (index < 0 || Registry::instance().by_index(static_cast<int>(index)) == nullptr ||
        index > INT32_MAX) {
        std::string loaded;
        for (Plugin* p : Registry::instance().plugins()) {
            loaded += (loaded.empty() ? "" : ", ") + std::to_string(p->index);
        }
        return Parsed<uint64_t>::fail("no plugin with index " + std::to_string(index) +
                                      (loaded.empty() ? "; no plugin is loaded"
                                                      : "; loaded indexes: " + loaded));
    }
    return Parsed<uint64_t>::ok(static_cast<uint64_t>(index));
}

}  // namespace
}  // namespace hypanda

using namespace hypanda;

// ---- SDK: callback and plugin management ----

extern "C" void panda_register_callback(void* plugin, panda_cb_type type, panda_cb cb) {
    Plugin* p = Registry::instance().by_handle(plugin);
    if (p == nullptr || type < 0 || type >= PANDA_CB_LAST || cb.cbaddr == nullptr) {
        std::string message = "panda_register_callback: ";
        message += p == nullptr ? "the handle is not a loaded plugin's"
                   : cb.cbaddr == nullptr ? "the callback is NULL"
                                          : "callback type " + std::to_string(type) + " does not exist";
        hypanda_host_error(message.c_str());
        return;
    }
    when_safe([p, type, cb] {
        if (Registry::instance().by_handle(p->handle) == p) {
            Registry::instance().add_callback(p, type, cb);
        }
    });
}

extern "C" void* panda_get_plugin_by_name(const char* name) {
    Plugin* p = name ? Registry::instance().by_name(name) : nullptr;
    return p ? p->handle : nullptr;
}

extern "C" bool panda_load_plugin(const char* filename) {
    if (filename == nullptr) {
        return false;
    }
    auto loaded = Registry::instance().load(filename, {});
    if (!loaded) {
        hypanda_host_error(loaded.error.c_str());
    }
    return bool(loaded);
}

extern "C" void panda_unload_plugin(void* plugin) {
    Plugin* p = Registry::instance().by_handle(plugin);
    if (p == nullptr) {
        hypanda_host_error("panda_unload_plugin: the handle is not a loaded plugin's");
        return;
    }
    if (std::string refusal = Registry::instance().unload_refusal(p); !refusal.empty()) {
        hypanda_host_error(refusal.c_str());
        return;
    }
    // Callbacks dispatched at run time stop now; calls in generated code stop
    // after the current block, when unloading flushes it.
    p->enabled = false;
    when_safe([p] {
        auto done = Registry::instance().unload(p);
        if (!done) {
            p->enabled = true;  // a user appeared meanwhile
            hypanda_host_error(done.error.c_str());
        }
    });
}

// ---- SDK: plugin-to-plugin interfaces ----
//
// Each finds the plugin asking by its return address, so that what it
// requires, imports and registers is recorded against it.

namespace {

Plugin* asking(const void* return_address) {
    return Registry::instance().containing(return_address);
}

}  // namespace

extern "C" __attribute__((noinline)) void* panda_require(const char* name) {
    Plugin* user = asking(__builtin_return_address(0));
    Plugin* p = Registry::instance().require(user, name ? name : "", {});
    return p ? p->handle : nullptr;
}

extern "C" __attribute__((noinline)) void* panda_require_with_args(const char* name,
                                                                   const char* args) {
    Plugin* user = asking(__builtin_return_address(0));
    auto kv = parse_arg_list(args ? args : "");
    if (!kv) {
        Registry::instance().fail_request(
            user, "panda_require_with_args('" + std::string(name ? name : "") + "'): " + kv.error);
        return nullptr;
    }
    Plugin* p = Registry::instance().require(user, name ? name : "", *kv.value);
    return p ? p->handle : nullptr;
}

extern "C" __attribute__((noinline)) void* panda_import(const char* plugin, const char* symbol) {
    Plugin* user = asking(__builtin_return_address(0));
    return Registry::instance().import(user, plugin ? plugin : "", symbol ? symbol : "");
}

extern "C" __attribute__((noinline)) bool panda_ppp_register(const char* plugin, const char* cb_name,
                                                             void (*fn)(void), void* context,
                                                             bool with_context) {
    Plugin* user = asking(__builtin_return_address(0));
    return Registry::instance().ppp_register(
        user, plugin ? plugin : "",
        PppRegistration{nullptr, cb_name ? cb_name : "", fn, context, with_context});
}

extern "C" __attribute__((noinline)) bool panda_ppp_remove(const char* plugin, const char* cb_name,
                                                           void (*fn)(void), void* context,
                                                           bool with_context) {
    Plugin* user = asking(__builtin_return_address(0));
    return Registry::instance().ppp_remove(
        user, plugin ? plugin : "",
        PppRegistration{nullptr, cb_name ? cb_name : "", fn, context, with_context});
}

extern "C" void panda_disable_plugin(void* plugin) {
    if (Plugin* p = Registry::instance().by_handle(plugin)) {
        Registry::instance().set_enabled(p, false);
    }
}

extern "C" void panda_enable_plugin(void* plugin) {
    if (Plugin* p = Registry::instance().by_handle(plugin)) {
        Registry::instance().set_enabled(p, true);
    }
}

extern "C" void panda_request_exit(void) { hypanda_host_request_exit(); }

// ---- SDK: arguments ----

extern "C" panda_arg_list* panda_get_args(const char* plugin_name) {
    auto* impl = new ArgListImpl();
    impl->plugin = plugin_short_name(plugin_name ? plugin_name : "");
    KeyValues kv = Registry::instance().args_for(impl->plugin);
    impl->strings.reserve(kv.size() * 2);
    for (const auto& [k, v] : kv) {
        impl->strings.push_back(k);
        impl->strings.push_back(v);
    }
    for (size_t i = 0; i < kv.size(); i++) {
        impl->args.push_back(panda_arg{reinterpret_cast<char*>(impl), impl->strings[2 * i].data(),
                                       impl->strings[2 * i + 1].data()});
    }
    impl->list.nargs = static_cast<int>(impl->args.size());
    impl->list.list = impl->args.empty() ? nullptr : impl->args.data();
    return &impl->list;
}

extern "C" void panda_free_args(panda_arg_list* args) {
    delete impl_of(args);
}

extern "C" bool panda_parse_bool_req(panda_arg_list* args, const char* key, const char* help) {
    return parse_typed<bool>(args, key, true, false, help, parse_bool_value);
}
extern "C" bool panda_parse_bool_opt(panda_arg_list* args, const char* key, const char* help) {
    return parse_typed<bool>(args, key, false, false, help, parse_bool_value);
}
extern "C" uint64_t panda_parse_uint64_req(panda_arg_list* args, const char* key, const char* help) {
    return parse_typed<uint64_t>(args, key, true, 0, help, parse_uint64_value);
}
extern "C" uint64_t panda_parse_uint64_opt(panda_arg_list* args, const char* key, uint64_t defval,
                                           const char* help) {
    return parse_typed<uint64_t>(args, key, false, defval, help, parse_uint64_value);
}
extern "C" double panda_parse_double_req(panda_arg_list* args, const char* key, const char* help) {
    return parse_typed<double>(args, key, true, 0.0, help, parse_double_value);
}
extern "C" double panda_parse_double_opt(panda_arg_list* args, const char* key, double defval,
                                         const char* help) {
    return parse_typed<double>(args, key, false, defval, help, parse_double_value);
}
extern "C" const char* panda_parse_string_req(panda_arg_list* args, const char* key, const char* help) {
    const char* v = lookup(args, key);
    if (v == nullptr) {
        report_arg_error(impl_of(args), key, "missing; give it with -panda-arg or -panda", help);
    }
    return v;
}
extern "C" const char* panda_parse_string_opt(panda_arg_list* args, const char* key,
                                              const char* defval, const char* help) {
    (void)help;
    const char* v = lookup(args, key);
    return v ? v : defval;
}

// ---- Runtime: command line and start-up ----

extern "C" int hypanda_option_panda(const char* text) {
    auto parsed = parse_panda_option(text ? text : "");
    if (!parsed) {
        hypanda_host_error(parsed.error.c_str());  // QEMU names the option
        return -1;
    }
    for (auto& req : *parsed.value) {
        startup_requests.push_back(std::move(req));
    }
    return 0;
}

extern "C" int hypanda_option_panda_plugin(const char* path) {
    if (path == nullptr || *path == '\0') {
        hypanda_host_error("needs the path of a plugin file");
        return -1;
    }
    std::string p = path;
    if (p.find('/') == std::string::npos) {
        p = "./" + p;  // a path, never searched
    }
    startup_requests.push_back(PluginRequest{p, {}});
    return 0;
}

extern "C" int hypanda_option_panda_arg(const char* text) {
    auto parsed = parse_panda_arg(text ? text : "");
    if (!parsed) {
        hypanda_host_error(parsed.error.c_str());
        return -1;
    }
    Registry::instance().add_args(parsed.value->plugin, {{parsed.value->key, parsed.value->value}});
    return 0;
}

extern "C" int hypanda_load_startup_plugins(void) {
    Registry& r = Registry::instance();
    for (const auto& req : startup_requests) {
        auto path = r.find(req.name);
        if (!path) {
            hypanda_host_error(path.error.c_str());
            return -1;
        }
        auto loaded = r.load(*path.value, req.args);
        if (!loaded) {
            hypanda_host_error(loaded.error.c_str());
            return -1;
        }
    }
    startup_requests.clear();
    for (const auto& owner : r.argument_owners()) {
        if (r.by_name(owner) == nullptr) {
            std::string loaded;
            for (Plugin* p : r.plugins()) {
                loaded += (loaded.empty() ? "" : ", ") + p->short_name;
            }
            hypanda_host_error(("-panda-arg: arguments for plugin '" + owner +
                                "', which is not loaded (loaded: " +
                                (loaded.empty() ? "none" : loaded) + ")")
                                   .c_str());
            return -1;
        }
    }
    return 0;
}

extern "C" void hypanda_unload_all_plugins(bool unmap) { Registry::instance().unload_all(unmap); }

// ---- Runtime: monitor ----

extern "C" char* hypanda_monitor_load(const char* path, const char* args, int* index, char** name) {
    auto kv = parse_arg_list(args ? args : "");
    std::string who = plugin_short_name(path ? path : "");
    if (!kv) {
        return dup_message("plugin '" + who + "': " + kv.error);
    }
    auto found = Registry::instance().find(path ? path : "");
    if (!found) {
        return dup_message(found.error);
    }
    auto loaded = Registry::instance().load(*found.value, *kv.value);
    if (!loaded) {
        return dup_message(loaded.error);
    }
    *index = (*loaded.value)->index;
    *name = strdup((*loaded.value)->file_name.c_str());
    return nullptr;
}

extern "C" char* hypanda_monitor_unload(int64_t index) {
    auto ok = parse_index(index);
    if (!ok) {
        return dup_message("unload_plugin: " + ok.error);
    }
    auto done = Registry::instance().unload(Registry::instance().by_index(static_cast<int>(index)));
    return done ? nullptr : dup_message("unload_plugin: " + done.error);
}

extern "C" char* hypanda_monitor_set_enabled(int64_t index, bool enabled) {
    auto ok = parse_index(index);
    if (!ok) {
        return dup_message(std::string(enabled ? "enable_plugin: " : "disable_plugin: ") + ok.error);
    }
    Registry::instance().set_enabled(Registry::instance().by_index(static_cast<int>(index)), enabled);
    return nullptr;
}

extern "C" void hypanda_for_each_plugin(hypanda_plugin_visitor visit, void* opaque) {
    for (Plugin* p : Registry::instance().plugins()) {
        visit(opaque, p->index, p->file_name.c_str(), p->path.c_str(), p->base, p->enabled);
    }
}

extern "C" int hypanda_plugin_count(void) {
    return static_cast<int>(Registry::instance().plugins().size());
}

extern "C" void hypanda_run_monitor(Monitor* mon, const char* cmd) {
    MainThreadDispatch scope;
    dispatch(PANDA_CB_MONITOR, [&](panda_cb cb) { cb.monitor(mon, cmd); });
}

