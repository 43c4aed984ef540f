// The plugin registry: which plugins are loaded, their callbacks in dispatch
// order, and the arguments given to them. One per process.
//
// Thread safety: the callback lists are read by vCPU threads without locks,
// so they change only when no vCPU runs guest code: before the guest
// starts, with the vCPUs paused (monitor commands), or at a safe point
// (requests made from inside callbacks, see sdk.cc). The plugin table
// itself is guarded by a mutex for the readers that are not vCPUs.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#define PANDA_SDK_INTERNAL
#include "panda/plugin.h"
#include "args.h"
#include "runtime.h"

namespace hypanda {

struct Plugin;

// A callback a plugin registered at another plugin's PPP callback point.
struct PppRegistration {
    Plugin* provider = nullptr;
    std::string point;  // "on_match"
    void (*fn)(void) = nullptr;
    void* context = nullptr;
    bool with_context = false;
};

struct Plugin {
    int index = 0;           // stable id shown by list_plugins; never reused
    int slot = 0;            // 0..kMaxPlugins-1, reused: the plugin's bit in masks
    std::string path;        // as opened
    std::string file_name;   // "panda_syscalls.so": the name the spec uses
    std::string short_name;  // "syscalls": the name arguments are keyed by
    void* handle = nullptr;  // dlopen handle, the plugin's `self`
    uint64_t base = 0;       // load address
    bool enabled = true;
    bool initialised = false;
    bool arg_error = false;  // a typed argument failed to parse during init
    bool unloading = false;  // uninit_plugin is running or has run
    void (*uninit)(void*) = nullptr;
    const void* link_map = nullptr;  // the dynamic linker's record, to find callers

    // Plugin-to-plugin bookkeeping. `uses`: the plugins it required,
    // imported from or registered PPP callbacks with (they cannot be
    // unloaded before it). `loaded_for`: the plugins panda_require loaded
    // during its init_plugin (unloaded again if that init fails).
    // `init_failure`: the first such request that failed during init_plugin,
    // which then fails the load with this message.
    std::vector<Plugin*> uses;
    std::vector<Plugin*> loaded_for;
    std::vector<PppRegistration> ppp;
    std::string init_failure;
};

using Callback = HypandaCallback;

// At most this many plugins are loaded at once: translated code records in
// a 64-bit mask which plugins instrumented an instruction.
constexpr int kMaxPlugins = 64;

class Registry {
public:
    static Registry& instance();

    // Finds a plugin given by short name or file name: next to the binary
    // (<bindir>/panda_plugins/), then in each folder of PANDA_PLUGIN_DIR
    // (colon-separated). A name with a '/' is a path and is not searched.
    Parsed<std::string> find(const std::string& name) const;

    // dlopens `path`, checks its ABI version and symbols, records `args` for
    // it and runs init_plugin. Errors name the plugin and the problem.
    Parsed<Plugin*> load(const std::string& path, const KeyValues& args);

    // Removes the plugin's callbacks, runs uninit_plugin, removes what it
    // still has registered at other plugins' PPP points and unmaps it
    // (`unmap` false at process exit, where unmapping gains nothing).
    // Refused, with the reason, while other plugins use it.
    Parsed<bool> unload(Plugin* plugin, bool unmap = true);

    // Unloads every plugin, newest first but each after its users.
    void unload_all(bool unmap);

    // ---- Plugin-to-plugin requests. `user` is the plugin asking (nullptr
    // if the emulator itself asks). A failure during the user's init_plugin
    // is kept in its init_failure; later ones are reported at once.

    // The loaded plugin whose code contains `address` (a caller's return
    // address), or nullptr.
    Plugin* containing(const void* address) const;

    // panda_require: `name` loaded (with `args` added to its arguments if
    // this loads it) and recorded as used by `user`.
    Plugin* require(Plugin* user, const std::string& name, const KeyValues& args);

    // panda_import: `symbol` defined by plugin `provider` itself.
    void* import(Plugin* user, const std::string& provider, const std::string& symbol);

    // PPP_REG_CB / PPP_REMOVE_CB on `provider`'s point `reg.point`.
    bool ppp_register(Plugin* user, const std::string& provider, PppRegistration reg);
    bool ppp_remove(Plugin* user, const std::string& provider, const PppRegistration& reg);

    // The plugins using `plugin`, in load order.
    std::vector<Plugin*> users_of(const Plugin* plugin) const;

    // Why `plugin` cannot be unloaded now (its users), or "".
    std::string unload_refusal(const Plugin* plugin) const;

    // Reports a failed request of `user`: during its init_plugin, kept to
    // fail the load with; otherwise one error line now.
    void fail_request(Plugin* user, const std::string& what);

    void set_enabled(Plugin* plugin, bool enabled);
    void add_callback(Plugin* plugin, panda_cb_type type, panda_cb cb);

    Plugin* by_handle(void* handle) const;
    Plugin* by_index(int index) const;
    Plugin* by_name(const std::string& name) const;  // short or file name
    std::vector<Plugin*> plugins() const;             // in load order

    // Arguments, keyed by plugin short name, in the order given.
    void add_args(const std::string& short_name, const KeyValues& args);
    KeyValues args_for(const std::string& short_name) const;
    std::vector<std::string> argument_owners() const;
    void clear_arguments();  // forget every plugin's arguments

    // Dispatch lists, read by the vCPU threads.
    const std::vector<Callback>& callbacks(panda_cb_type type) const { return lists_[type]; }

private:
    Registry() = default;
    void remove_callbacks(Plugin* plugin);
    void add_use(Plugin* user, Plugin* provider);
    void drop_ppp(Plugin* user);     // removes its registrations from their providers
    void forget(Plugin* plugin);     // erases it from the table and from others' records
    void* own_symbol(Plugin* provider, const std::string& symbol) const;
    void publish(int type);  // hands lists_[type] to the instrumentation

    mutable std::recursive_mutex mutex_;  // init_plugin may load another plugin
    std::vector<std::unique_ptr<Plugin>> plugins_;
    std::map<std::string, KeyValues> args_;
    std::vector<Callback> lists_[PANDA_CB_LAST];
    int next_index_ = 0;
    std::vector<Plugin*> initialising_;  // plugins whose init_plugin is running, outermost first
};

}  // namespace hypanda
