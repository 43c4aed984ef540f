// Choosing a replay's machine options (replay_args.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "replay_args.h"

#include <nlohmann/json.hpp>

namespace hypanda::rr {

namespace {

using nlohmann::json;

bool one_of(const std::string& s, std::initializer_list<const char*> set) {
    for (const char* x : set) {
        if (s == x) {
            return true;
        }
    }
    return false;
}

// Options that make the machine and need nothing from the host.
bool keeps(const std::string& option) {
    return one_of(option, {"machine", "M", "cpu", "m", "smp", "global", "vga", "bios", "L", "object", "numa",
                           "device", "net", "nic", "rtc", "name", "boot"});
}

// QEMU options without a value (those a recorded command line may hold).
bool is_flag(const std::string& option) {
    return one_of(option, {"nodefaults", "no-hpet", "S", "nographic", "enable-kvm", "no-reboot", "no-shutdown",
                           "daemonize", "usb", "snapshot", "s", "no-acpi", "no-user-config", "nodefconfig",
                           "full-screen", "no-fd-bootchk", "win2k-hack", "no-quit", "preconfig", "only-migratable",
                           "enable-sync-profile"});
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
        const size_t at = s.find(sep, start);
        parts.push_back(s.substr(start, at - start));
        if (at == std::string::npos) {
            return parts;
        }
        start = at + 1;
    }
}

// An option value as key/value pairs: JSON ({"driver":...}) or QEMU's
// "type,key=value,..." (the first bare word under `first_key`).
std::vector<std::pair<std::string, std::string>> properties(const std::string& value, const char* first_key) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!value.empty() && value[0] == '{') {
        json j = json::parse(value, nullptr, false);
        if (j.is_object()) {
            for (auto it = j.begin(); it != j.end(); ++it) {
                out.emplace_back(it.key(), it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
            }
        }
        return out;
    }
    bool first = true;
    for (const std::string& part : split(value, ',')) {
        const size_t eq = part.find('=');
        if (eq == std::string::npos) {
            out.emplace_back(first ? first_key : part, first ? part : "on");
        } else {
            out.emplace_back(part.substr(0, eq), part.substr(eq + 1));
        }
        first = false;
    }
    return out;
}

std::string property(const std::vector<std::pair<std::string, std::string>>& props, const std::string& key) {
    for (const auto& [k, v] : props) {
        if (k == key) {
            return v;
        }
    }
    return "";
}

// A device that needs a host back-end (disk, network, chardev, audio, 9p).
bool names_backend(const std::string& device) {
    for (const auto& [k, v] : properties(device, "driver")) {
        if (one_of(k, {"drive", "netdev", "chardev", "audiodev", "fsdev"})) {
            return true;
        }
    }
    return false;
}

// An -object for the replay: memory backends become plain RAM of the same
// id and size (a file or memfd backend's host side is not needed); objects
// that read the host (secrets, TLS credentials, entropy sources) go; the
// rest stay. "" : leave it out.
std::string replay_object(const std::string& value) {
    const auto props = properties(value, "qom-type");
    const std::string type = property(props, "qom-type");
    if (type.rfind("memory-backend-", 0) == 0) {
        return "memory-backend-ram,id=" + property(props, "id") + ",size=" + property(props, "size");
    }
    if (one_of(type, {"secret", "secret_keyring", "rng-random", "rng-egd", "tls-cipher-suites"}) ||
        type.rfind("tls-creds", 0) == 0) {
        return "";
    }
    return value;
}

// "-machine pc,accel=kvm" would clash with replay's -accel tcg.
std::string without_accel(const std::string& machine) {
    std::string out;
    for (const std::string& part : split(machine, ',')) {
        if (part.rfind("accel=", 0) != 0) {
            out += (out.empty() ? "" : ",") + part;
        }
    }
    return out;
}

}  // namespace

std::vector<std::string> replay_machine_args(const std::vector<std::string>& line) {
    std::vector<std::string> out;
    for (size_t i = 1; i < line.size(); i++) {
        if (line[i].size() < 2 || line[i][0] != '-') {
            continue;  // a stray word (QEMU takes a lone word as a disk image)
        }
        const std::string option = line[i].substr(line[i][1] == '-' ? 2 : 1);
        if (is_flag(option)) {
            if (one_of(option, {"nodefaults", "no-hpet", "no-acpi", "usb"})) {
                out.push_back(line[i]);
            }
            continue;
        }
        if (i + 1 >= line.size()) {
            break;
        }
        std::string value = line[++i];
        if (!keeps(option) || (option == "device" && names_backend(value)) ||
            ((option == "net" || option == "nic") && value != "none")) {
            continue;
        }
        if (option == "object") {
            value = replay_object(value);
            if (value.empty()) {
                continue;
            }
        } else if (option == "machine" || option == "M") {
            value = without_accel(value);
        }
        out.insert(out.end(), {"-" + option, value});
    }
    for (const char* extra : {"-accel", "tcg", "-display", "none", "-serial", "none", "-monitor", "none"}) {
        out.push_back(extra);
    }
    return out;
}

}  // namespace hypanda::rr
