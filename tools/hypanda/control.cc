// hypanda switch / record / plugins / stop: QMP commands to a running guest,
// the same for a run folder and a libvirt domain (target.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <cinttypes>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.h"
#include "common.h"
#include "target.h"

namespace hypanda::cli {

namespace {

// Opens the target, or says why not.
std::unique_ptr<Target> open_or_say(const Global& g, const std::string& name) {
    std::string err;
    std::unique_ptr<Target> t = open_target(name, g.uri, &err);
    if (!t) {
        fail(err);
    }
    return t;
}

void print_json(const json& j) { std::cout << j.dump(2) << "\n"; }

}  // namespace

int cmd_switch(const Global& g, const std::string& name, const std::string& engine) {
    std::unique_ptr<Target> t = open_or_say(g, name);
    if (!t) {
        return kExitFailed;
    }
    json info;
    std::string err;
    if (!t->execute("hybrid-switch", {{"engine", engine}}, &info, &err)) {
        return fail(t->describe() + ": " + err);
    }
    const json& now = info.value(engine, json::object());
    const uint64_t latency_ns = now.value("last-latency-ns", uint64_t{0});
    if (g.json) {
        print_json({{"target", t->describe()}, {"engine", info.value("engine", "")}, {"hybrid", info}});
    } else {
        std::printf("%s: engine %s (last switch to it took %.1f us; %" PRIu64 " switches to it)\n",
                    t->describe().c_str(), info.value("engine", "").c_str(), latency_ns / 1e3,
                    now.value("switches-to", uint64_t{0}));
    }
    return kExitOk;
}

int cmd_record(const Global& g, const std::string& name, const std::string& action, const std::string& rec) {
    std::unique_ptr<Target> t = open_or_say(g, name);
    if (!t) {
        return kExitFailed;
    }
    std::string err;
    json ret;
    if (action == "stop") {
        if (!t->execute("end-record", json::object(), &ret, &err)) {
            if (err == kNotRunning) {
                return fail(t->describe() + " is not running: a recording it was making ended with its emulator and "
                                            "was saved then" +
                            (t->recordings_dir().empty() ? std::string()
                                                         : " (in " + t->recordings_dir() + "; 'hypanda info' checks it)"));
            }
            return fail(t->describe() + ": " + err);
        }
        if (g.json) {
            print_json({{"target", t->describe()}, {"recording", "ended"}});
        } else {
            std::printf("%s: recording ended\n", t->describe().c_str());
        }
        return kExitOk;
    }
    std::string path = rec;
    if (path.empty() || path[0] != '/') {
        if (t->recordings_dir().empty()) {
            return fail(t->describe() + ": no recordings folder in its <hypanda:analysis> metadata; give the "
                                        "recording as an absolute path");
        }
        path = t->recordings_dir() + "/" + rec;
    }
    if (!t->execute("begin-record", {{"name", path}}, &ret, &err)) {
        return fail(t->describe() + ": " + err);
    }
    // Under KVM (hybrid mode) the recording waits for the switch to TCG.
    json hybrid;
    const bool waits = t->execute("query-hybrid", json::object(), &hybrid, &err) && hybrid.value("engine", "") == "kvm";
    if (g.json) {
        print_json({{"target", t->describe()}, {"recording", path}, {"state", waits ? "pending" : "started"}});
    } else if (waits) {
        std::printf("%s: recording %s starts when the guest switches to TCG (it runs under KVM now)\n",
                    t->describe().c_str(), path.c_str());
    } else {
        std::printf("%s: recording %s started\n", t->describe().c_str(), path.c_str());
    }
    return kExitOk;
}

int cmd_plugins(const Global& g, const std::string& name, const std::string& action, const std::string& what) {
    std::unique_ptr<Target> t = open_or_say(g, name);
    if (!t) {
        return kExitFailed;
    }
    std::string err;
    json ret;
    if (action == "load") {
        // name[:key=value,...], as -panda takes one plugin.
        const size_t colon = what.find(':');
        json args = {{"path", what.substr(0, colon)}};
        if (colon != std::string::npos) {
            args["args"] = what.substr(colon + 1);
        }
        if (!t->execute("panda-load-plugin", args, &ret, &err)) {
            return fail(t->describe() + ": " + err);
        }
        if (g.json) {
            print_json({{"target", t->describe()}, {"loaded", ret}});
        } else {
            std::printf("%s: loaded %s as plugin %d\n", t->describe().c_str(), ret.value("name", "").c_str(),
                        ret.value("index", -1));
        }
        return kExitOk;
    }
    json list;
    if (!t->execute("panda-list-plugins", json::object(), &list, &err)) {
        return fail(t->describe() + ": " + err);
    }
    if (action == "unload") {
        // By index, or by name when exactly one plugin has it.
        long index = -1;
        char* end = nullptr;
        const long n = std::strtol(what.c_str(), &end, 10);
        if (!what.empty() && *end == '\0') {
            index = n;
        } else {
            for (const json& p : list) {
                const std::string n = p.value("name", "");
                if (n == what || n == "panda_" + what + ".so") {
                    index = p.value("index", -1L);
                }
            }
            if (index < 0) {
                return fail(t->describe() + ": no loaded plugin is named '" + what + "' ('hypanda plugins " + name +
                            " list' shows them)");
            }
        }
        if (!t->execute("panda-unload-plugin", {{"index", index}}, &ret, &err)) {
            return fail(t->describe() + ": " + err);
        }
        if (g.json) {
            print_json({{"target", t->describe()}, {"unloaded", index}});
        } else {
            std::printf("%s: unloaded plugin %ld\n", t->describe().c_str(), index);
        }
        return kExitOk;
    }
    if (g.json) {
        print_json({{"target", t->describe()}, {"plugins", list}});
        return kExitOk;
    }
    if (list.empty()) {
        std::printf("%s: no plugins loaded\n", t->describe().c_str());
    }
    for (const json& p : list) {
        std::printf("%d %s %s%s\n", p.value("index", -1), p.value("name", "").c_str(), p.value("path", "").c_str(),
                    p.value("enabled", true) ? "" : " (disabled)");
    }
    return kExitOk;
}

int cmd_stop(const Global& g, const std::string& name, bool resume) {
    std::unique_ptr<Target> t = open_or_say(g, name);
    if (!t) {
        return kExitFailed;
    }
    std::string err;
    if (!(resume ? t->resume(&err) : t->stop(&err))) {
        return fail(t->describe() + ": " + err);
    }
    const char* state = resume ? "running" : "stopped";
    if (g.json) {
        print_json({{"target", t->describe()}, {"state", state}});
    } else {
        std::printf("%s: %s\n", t->describe().c_str(), state);
    }
    return kExitOk;
}

}  // namespace hypanda::cli
