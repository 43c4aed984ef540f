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
    }
    Plugin* p = plugin.get();
    plugins_.push_back(std::move(plugin));
    add_args(short_name, args);

    bool ok = init(handle);
    if (!ok || p->arg_error) {
        // Refused: drop what it registered, without calling uninit_plugin.
        remove_callbacks(p);
        plugins_.erase(std::find_if(plugins_.begin(), plugins_.end(),
                                    [p](const auto& q) { return q.get() == p; }));
        dlclose(handle);
        return Result::fail(who + (ok ? ": not loaded: its arguments are wrong (see above)"
                                      : ": init_plugin returned false; plugin unloaded"));
    }
    p->initialised = true;
    return Result::ok(p);
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

void Registry::unload(Plugin* plugin, bool unmap) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    auto it = std::find_if(plugins_.begin(), plugins_.end(),
                           [plugin](const auto& q) { return q.get() == plugin; });
    if (it == plugins_.end()) {
        return;  // already gone (e.g. two unload requests for one plugin)
    }
    std::unique_ptr<Plugin> owned = std::move(*it);
    plugins_.erase(it);
    remove_callbacks(plugin);
    if (plugin->uninit != nullptr) {
        plugin->uninit(plugin->handle);
    }
    if (unmap) {
        dlclose(plugin->handle);
    }
}

void Registry::unload_all(bool unmap) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    while (!plugins_.empty()) {
        unload(plugins_.back().get(), unmap);
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
