// The plugin registry (see registry.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "registry.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "host.h"

extern "C" {
HypandaCallbackList hypanda_callbacks[PANDA_CB_LAST];
__thread uint64_t hypanda_cb_pc;
__thread bool hypanda_cb_pc_valid;
}

namespace hypanda {
namespace {

bool is_file(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// exit() runs handlers and C++ static destructors last registered first. A
// plugin's destructors are registered while dlopen runs its constructors, so
// a handler registered after each dlopen unloads every plugin (uninit_plugin,
// which typically writes its results from its globals) before any plugin's
// globals are destroyed. Later calls find nothing left to unload.
void unload_all_at_exit() { Registry::instance().unload_all(false); }

}  // namespace

Registry& Registry::instance() {
    static Registry* registry = new Registry();  // never destroyed: atexit order
    return *registry;
}

Parsed<std::string> Registry::find(const std::string& name) const {
    if (name.find('/') != std::string::npos) {
        if (!is_file(name)) {
            return Parsed<std::string>::fail("plugin " + quoted(name) + ": no such file");
        }
        return Parsed<std::string>::ok(name);
    }
    std::string file = name;
    if (file.size() < 3 || file.compare(file.size() - 3, 3, ".so") != 0) {
        file = plugin_file_name(name);
    }
    // Beside the emulator (the build tree), then where `make install` puts
    // plugins (<prefix>/lib/hypanda/panda_plugins), then PANDA_PLUGIN_DIR.
    const std::string bin = hypanda_host_binary_dir();
    std::vector<std::string> dirs = {bin + "/panda_plugins", bin + "/../lib/hypanda/panda_plugins"};
    if (const char* env = std::getenv("PANDA_PLUGIN_DIR")) {
        std::string list = env;
        size_t start = 0;
        while (start <= list.size()) {
            size_t end = list.find(':', start);
            if (end == std::string::npos) {
                end = list.size();
            }
            if (end > start) {
                dirs.push_back(list.substr(start, end - start));
            }
            start = end + 1;
        }
    }
    std::string looked;
    for (const auto& dir : dirs) {
        std::string candidate = dir + "/" + file;
        if (is_file(candidate)) {
            return Parsed<std::string>::ok(candidate);
        }
        looked += (looked.empty() ? "" : ", ") + candidate;
    }
    return Parsed<std::string>::fail("plugin " + quoted(name) + ": not found; looked for " + looked +
                                     " (set PANDA_PLUGIN_DIR to add folders)");
}

Parsed<Plugin*> Registry::load(const std::string& path, const KeyValues& args) {
    using Result = Parsed<Plugin*>;
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    const std::string short_name = plugin_short_name(path);
    const std::string who = "plugin " + quoted(short_name);
    if (Plugin* existing = by_name(short_name)) {
        return Result::fail(who + ": already loaded (index " + std::to_string(existing->index) + ")");
    }
    if (!is_file(path)) {
        return Result::fail(who + ": " + path + ": no such file");
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = dlerror();
        return Result::fail(who + ": cannot load " + path + ": " + (why ? why : "unknown dlopen error"));
    }
    std::atexit(unload_all_at_exit);
    auto close_with = [&](const std::string& message) {
        dlclose(handle);
        return Result::fail(who + ": " + message);
    };
    auto* abi = static_cast<const uint32_t*>(dlsym(handle, "panda_plugin_abi_version"));
    if (abi == nullptr) {
        return close_with(path + " is not a PANDA plugin built with the Hypanda SDK "
                          "(no panda_plugin_abi_version; include <panda/plugin.h>)");
    }
    if (*abi != PANDA_SDK_ABI_VERSION) {
        return close_with("built for SDK ABI " + std::to_string(*abi) + ", this emulator serves ABI " +
                          std::to_string(PANDA_SDK_ABI_VERSION) + "; rebuild it against this SDK");
    }
    auto init = reinterpret_cast<bool (*)(void*)>(dlsym(handle, "init_plugin"));
    auto uninit = reinterpret_cast<void (*)(void*)>(dlsym(handle, "uninit_plugin"));
    if (init == nullptr) {
        return close_with(path + " has no init_plugin function");
    }
    if (uninit == nullptr) {
        return close_with(path + " has no uninit_plugin function");
    }

    uint64_t used = 0;
    for (const auto& q : plugins_) {
        used |= uint64_t{1} << q->slot;
    }
    if (used == ~uint64_t{0}) {
        return close_with("cannot load more than " + std::to_string(kMaxPlugins) +
                          " plugins at once; unload one first");
    }
    auto plugin = std::make_unique<Plugin>();
    plugin->slot = __builtin_ctzll(~used);
    plugin->index = next_index_++;
    plugin->path = path;
    plugin->file_name = path.substr(path.rfind('/') + 1);
    plugin->short_name = short_name;
    plugin->handle = handle;
    plugin->uninit = uninit;
    struct link_map* map = nullptr;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr) {
        plugin->base = map->l_addr;
        plugin->link_map = map;
    }
    Plugin* p = plugin.get();
    plugins_.push_back(std::move(plugin));
    add_args(short_name, args);

    initialising_.push_back(p);
    bool ok = init(handle);
    initialising_.pop_back();
    if (!ok || p->arg_error || !p->init_failure.empty()) {
        // Refused: drop what it registered and what was loaded for it,
        // without calling its uninit_plugin.
        std::string why = !p->init_failure.empty() ? ": not loaded: " + p->init_failure
                          : ok ? ": not loaded: its arguments are wrong (see above)"
                               : ": init_plugin returned false; plugin unloaded";
        std::vector<Plugin*> loaded_for = p->loaded_for;
        remove_callbacks(p);
        drop_ppp(p);
        forget(p);
        dlclose(handle);
        for (auto it = loaded_for.rbegin(); it != loaded_for.rend(); ++it) {
            if (by_handle((*it)->handle) == *it && users_of(*it).empty()) {
                (void)unload(*it);
            }
        }
        return Result::fail(who + why);
    }
    p->initialised = true;
    return Result::ok(p);
}

Plugin* Registry::containing(const void* address) const {
    Dl_info info;
    void* map = nullptr;
    if (address == nullptr || dladdr1(address, &info, &map, RTLD_DL_LINKMAP) == 0 || map == nullptr) {
        return nullptr;
    }
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    for (const auto& p : plugins_) {
        if (p->link_map == map) {
            return p.get();
        }
    }
    return nullptr;
}

void Registry::fail_request(Plugin* user, const std::string& what) {
    if (user != nullptr && !user->initialised) {
        if (user->init_failure.empty()) {
            user->init_failure = what;  // reported once, by load()
        }
        return;
    }
    std::string who = user != nullptr ? "plugin " + quoted(user->short_name) + ": " : "";
    hypanda_host_error((who + what).c_str());
}

void Registry::add_use(Plugin* user, Plugin* provider) {
    if (user != nullptr && user != provider &&
        std::find(user->uses.begin(), user->uses.end(), provider) == user->uses.end()) {
        user->uses.push_back(provider);
    }
}

Plugin* Registry::require(Plugin* user, const std::string& name, const KeyValues& args) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    const std::string what = "panda_require(" + quoted(name) + "): ";
    if (Plugin* loaded = by_name(name)) {
        if (!loaded->initialised) {
            // Still in its init_plugin, further up this thread's stack.
            std::string chain;
            auto from = std::find(initialising_.begin(), initialising_.end(), loaded);
            for (auto it = from; it != initialising_.end(); ++it) {
                chain += (*it)->short_name + " -> ";
            }
            fail_request(user, what + "a dependency cycle: " + chain + loaded->short_name);
            return nullptr;
        }
        add_use(user, loaded);
        return loaded;
    }
    auto path = find(name);
    if (!path) {
        fail_request(user, what + path.error);
        return nullptr;
    }
    auto loaded = load(*path.value, args);
    if (!loaded) {
        fail_request(user, loaded.error);
        return nullptr;
    }
    Plugin* dependency = *loaded.value;
    if (user != nullptr) {
        // List the dependency before its user: dependency order for
        // list_plugins and (reversed) for unloading at exit.
        auto at = std::find_if(plugins_.begin(), plugins_.end(),
                               [dependency](const auto& q) { return q.get() == dependency; });
        std::unique_ptr<Plugin> moved = std::move(*at);
        plugins_.erase(at);
        auto before = std::find_if(plugins_.begin(), plugins_.end(),
                                   [user](const auto& q) { return q.get() == user; });
        plugins_.insert(before, std::move(moved));
        if (!user->initialised) {
            user->loaded_for.push_back(dependency);
        }
    }
    add_use(user, dependency);
    return dependency;
}

void* Registry::own_symbol(Plugin* provider, const std::string& symbol) const {
    dlerror();
    void* address = dlsym(provider->handle, symbol.c_str());
    if (address == nullptr) {
        return nullptr;
    }
    // dlsym also searches the provider's own dependencies (libc, ...): only
    // what the plugin itself defines counts as its export.
    Dl_info info;
    void* map = nullptr;
    if (dladdr1(address, &info, &map, RTLD_DL_LINKMAP) == 0 || map != provider->link_map) {
        return nullptr;
    }
    return address;
}

void* Registry::import(Plugin* user, const std::string& provider, const std::string& symbol) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    const std::string what = "cannot import " + quoted(symbol) + " from plugin " + quoted(provider);
    Plugin* from = by_name(provider);
    if (from == nullptr) {
        fail_request(user, what + ": it is not loaded (panda_require it first)");
        return nullptr;
    }
    void* address = own_symbol(from, symbol);
    if (address == nullptr) {
        fail_request(user, what + ": it exports no such symbol");
        return nullptr;
    }
    add_use(user, from);
    return address;
}

bool Registry::ppp_register(Plugin* user, const std::string& provider, PppRegistration reg) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    const std::string what =
        "cannot register a callback at PPP point " + quoted(reg.point) + " of plugin " + quoted(provider);
    Plugin* from = by_name(provider);
    if (from == nullptr) {
        fail_request(user, what + ": it is not loaded (panda_require it first)");
        return false;
    }
    const std::string add = "ppp_add_cb_" + reg.point + (reg.with_context ? "_with_context" : "");
    void* address = own_symbol(from, add);
    if (address == nullptr || own_symbol(from, "ppp_remove_cb_" + reg.point) == nullptr) {
        fail_request(user, what + ": it has no such callback point (no " + add + ")");
        return false;
    }
    if (reg.with_context) {
        reinterpret_cast<void (*)(void (*)(void), void*)>(address)(reg.fn, reg.context);
    } else {
        reinterpret_cast<void (*)(void (*)(void))>(address)(reg.fn);
    }
    add_use(user, from);
    if (user != nullptr) {
        reg.provider = from;
        user->ppp.push_back(std::move(reg));
    }
    return true;
}

namespace {

// Calls the provider's ppp_remove_cb_<point>[_with_context] for `reg`.
bool call_remove(void* address, const PppRegistration& reg) {
    if (address == nullptr) {
        return false;
    }
    if (reg.with_context) {
        return reinterpret_cast<bool (*)(void (*)(void), void*)>(address)(reg.fn, reg.context);
    }
    return reinterpret_cast<bool (*)(void (*)(void))>(address)(reg.fn);
}

std::string remove_symbol(const PppRegistration& reg) {
    return "ppp_remove_cb_" + reg.point + (reg.with_context ? "_with_context" : "");
}

}  // namespace

bool Registry::ppp_remove(Plugin* user, const std::string& provider, const PppRegistration& reg) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    Plugin* from = by_name(provider);
    if (from == nullptr) {
        fail_request(user, "cannot remove a callback at PPP point " + quoted(reg.point) + " of plugin " +
                               quoted(provider) + ": it is not loaded");
        return false;
    }
    bool removed = call_remove(own_symbol(from, remove_symbol(reg)), reg);
    if (user != nullptr) {
        auto& list = user->ppp;
        auto it = std::find_if(list.begin(), list.end(), [&](const PppRegistration& r) {
            return r.provider == from && r.point == reg.point && r.fn == reg.fn &&
                   r.context == reg.context && r.with_context == reg.with_context;
        });
        if (it != list.end()) {
            list.erase(it);
        }
    }
    return removed;
}

void Registry::drop_ppp(Plugin* user) {
    for (const auto& reg : user->ppp) {
        if (by_handle(reg.provider->handle) == reg.provider) {
            call_remove(own_symbol(reg.provider, remove_symbol(reg)), reg);
        }
    }
    user->ppp.clear();
}

void Registry::forget(Plugin* plugin) {
    for (const auto& q : plugins_) {
        auto& uses = q->uses;
        uses.erase(std::remove(uses.begin(), uses.end(), plugin), uses.end());
        auto& regs = q->ppp;
        regs.erase(std::remove_if(regs.begin(), regs.end(),
                                  [plugin](const PppRegistration& r) { return r.provider == plugin; }),
                   regs.end());
        auto& loaded = q->loaded_for;
        loaded.erase(std::remove(loaded.begin(), loaded.end(), plugin), loaded.end());
    }
    auto it = std::find_if(plugins_.begin(), plugins_.end(),
                           [plugin](const auto& q) { return q.get() == plugin; });
    if (it != plugins_.end()) {
        plugins_.erase(it);  // frees it
    }
}

std::vector<Plugin*> Registry::users_of(const Plugin* plugin) const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    std::vector<Plugin*> out;
    for (const auto& q : plugins_) {
        if (std::find(q->uses.begin(), q->uses.end(), plugin) != q->uses.end()) {
            out.push_back(q.get());
        }
    }
    return out;
}

void Registry::publish(int type) {
    hypanda_callbacks[type] = HypandaCallbackList{lists_[type].data(), lists_[type].size()};
}

void Registry::remove_callbacks(Plugin* plugin) {
    bool removed = false;
    for (int type = 0; type < PANDA_CB_LAST; type++) {
        auto& list = lists_[type];
        auto end = std::remove_if(list.begin(), list.end(),
                                  [plugin](const Callback& c) { return c.owner == plugin; });
        removed |= end != list.end();
        list.erase(end, list.end());
        publish(type);
    }
    if (removed) {
        hypanda_host_flush_translations();
    }
}

std::string Registry::unload_refusal(const Plugin* plugin) const {
    auto users = users_of(plugin);
    if (users.empty()) {
        return "";
    }
    std::string names;
    for (Plugin* u : users) {
        names += (names.empty() ? "" : ", ") + quoted(u->short_name);
    }
    const bool one = users.size() == 1;
    return "plugin " + quoted(plugin->short_name) + ": not unloaded: " + names + (one ? " uses" : " use") +
           " it; unload " + (one ? "that" : "those") + " first";
}

Parsed<bool> Registry::unload(Plugin* plugin, bool unmap) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (plugin == nullptr || by_handle(plugin->handle) != plugin || plugin->unloading) {
        return Parsed<bool>::ok(false);  // already gone or going (e.g. two requests)
    }
    if (std::string refusal = unload_refusal(plugin); !refusal.empty()) {
        return Parsed<bool>::fail(refusal);
    }
    plugin->unloading = true;
    remove_callbacks(plugin);
    if (plugin->uninit != nullptr) {
        plugin->uninit(plugin->handle);  // may still remove its own PPP callbacks
    }
    drop_ppp(plugin);
    void* handle = plugin->handle;
    forget(plugin);
    hypanda_host_plugin_unloading(handle);
    if (unmap) {
        dlclose(handle);
    }
    return Parsed<bool>::ok(true);
}

void Registry::unload_all(bool unmap) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    while (!plugins_.empty()) {
        // The newest plugin nobody uses (users always come after what they
        // use, see require(), so there is one).
        Plugin* next = plugins_.back().get();
        for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
            if (users_of(it->get()).empty()) {
                next = it->get();
                break;
            }
        }
        if (!unload(next, unmap)) {
            // Only if uses formed a cycle, which require() prevents; never
            // loop forever.
            for (const auto& q : plugins_) {
                q->uses.clear();
            }
        }
    }
}

void Registry::set_enabled(Plugin* plugin, bool enabled) {
    if (plugin->enabled == enabled) {
        return;
    }
    plugin->enabled = enabled;
    // Generated code calls only enabled plugins' exec callbacks, and keeps
    // the insn_translate decisions it was made with: translate again.
    hypanda_host_flush_translations();
}

void Registry::add_callback(Plugin* plugin, panda_cb_type type, panda_cb cb) {
    lists_[type].push_back(Callback{cb, &plugin->enabled, uint64_t{1} << plugin->slot, plugin});
    publish(type);
    switch (type) {
    case PANDA_CB_BEFORE_BLOCK_EXEC_INVALIDATE_OPT:
    case PANDA_CB_BEFORE_BLOCK_EXEC:
    case PANDA_CB_AFTER_BLOCK_EXEC:
    case PANDA_CB_INSN_TRANSLATE:
    case PANDA_CB_INSN_EXEC:
    case PANDA_CB_VIRT_MEM_READ:
    case PANDA_CB_VIRT_MEM_WRITE:
    case PANDA_CB_PHYS_MEM_READ:
    case PANDA_CB_PHYS_MEM_WRITE:
        // Decided at translation time: translate again.
        hypanda_host_flush_translations();
        break;
    default:
        break;
    }
}

Plugin* Registry::by_handle(void* handle) const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    for (const auto& p : plugins_) {
        if (p->handle == handle) {
            return p.get();
        }
    }
    return nullptr;
}

Plugin* Registry::by_index(int index) const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    for (const auto& p : plugins_) {
        if (p->index == index) {
            return p.get();
        }
    }
    return nullptr;
}

Plugin* Registry::by_name(const std::string& name) const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    for (const auto& p : plugins_) {
        if (p->file_name == name || p->short_name == name || p->short_name == plugin_short_name(name)) {
            return p.get();
        }
    }
    return nullptr;
}

std::vector<Plugin*> Registry::plugins() const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    std::vector<Plugin*> out;
    for (const auto& p : plugins_) {
        out.push_back(p.get());
    }
    return out;
}

void Registry::add_args(const std::string& short_name, const KeyValues& args) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    auto& list = args_[short_name];
    list.insert(list.end(), args.begin(), args.end());
}

KeyValues Registry::args_for(const std::string& short_name) const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    auto it = args_.find(plugin_short_name(short_name));
    return it == args_.end() ? KeyValues{} : it->second;
}

std::vector<std::string> Registry::argument_owners() const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, list] : args_) {
        if (!list.empty()) {
            out.push_back(name);
        }
    }
    return out;
}

void Registry::clear_arguments() {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    args_.clear();
}

}  // namespace hypanda
