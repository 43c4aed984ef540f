// A recording's manifest (manifest.h), with nlohmann-json and xxHash.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "manifest.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace hypanda::rr {
namespace {

using nlohmann::json;

// A string from the file, for a message: JSON-quoted (so it stays one line)
// and cut short.
std::string shown(const std::string& s) {
    std::string q = json(s.size() > 64 ? s.substr(0, 64) + "..." : s).dump(-1, ' ', false, json::error_handler_t::replace);
    return q;
}

const char* type_name(json::value_t t) {
    switch (t) {
    case json::value_t::string: return "a string";
    case json::value_t::number_unsigned: return "a non-negative integer";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    default: return "another type";
    }
}

// A field of `obj` of the wanted type; false and `*err` if it is missing
// or has another type.
bool field(const json& obj, const std::string& path, const char* key, json::value_t type, const json** out,
           std::string* err) {
    auto it = obj.find(key);
    if (it == obj.end()) {
        *err = std::string(kManifestFile) + ": " + path + key + " is missing";
        return false;
    }
    const bool ok = it->type() == type || (type == json::value_t::number_unsigned &&
                                            it->type() == json::value_t::number_integer && it->get<int64_t>() >= 0);
    if (!ok) {
        *err = std::string(kManifestFile) + ": " + path + key + " must be " + type_name(type);
        return false;
    }
    *out = &*it;
    return true;
}

bool hex_field(const json& obj, const std::string& path, const char* key, uint64_t* v, std::string* err) {
    const json* j = nullptr;
    if (!field(obj, path, key, json::value_t::string, &j, err)) {
        return false;
    }
    const std::string s = j->get<std::string>();
    char* end = nullptr;
    *v = std::strtoull(s.c_str(), &end, 16);
    if (s.size() != 16 || *end != '\0') {
        *err = std::string(kManifestFile) + ": " + path + key + " must be 16 hex digits, not " + shown(s);
        return false;
    }
    return true;
}

bool file_entry(const json& obj, const char* key, FileEntry* f, std::string* err) {
    const json* j = nullptr;
    const json* name = nullptr;
    const json* bytes = nullptr;
    const std::string path = std::string("files.") + key + ".";
    if (!field(obj, "files.", key, json::value_t::object, &j, err) ||
        !field(*j, path, "name", json::value_t::string, &name, err) ||
        !field(*j, path, "bytes", json::value_t::number_unsigned, &bytes, err) ||
        !hex_field(*j, path, "xxh64", &f->xxh64, err)) {
        return false;
    }
    f->name = name->get<std::string>();
    f->bytes = bytes->get<uint64_t>();
    if (f->name.empty() || f->name.find('/') != std::string::npos || f->name == "." || f->name == "..") {
        *err = std::string(kManifestFile) + ": " + path + "name " + shown(f->name) +
               " must be a file name in the recording's folder";
        return false;
    }
    return true;
}

}  // namespace

uint64_t xxh64(const void* data, size_t size) { return XXH64(data, size, 0); }

std::string hex64(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
    return buf;
}

std::string manifest_to_json(const Manifest& m) {
    auto file = [](const FileEntry& f) { return json{{"name", f.name}, {"bytes", f.bytes}, {"xxh64", hex64(f.xxh64)}}; };
    json j = {
        {"format", "hypanda-recording"},
        {"version", m.version},
        {"arch", m.arch},
        {"ram_bytes", m.ram_bytes},
        {"instructions", m.instructions},
        {"ram_xxh64", hex64(m.ram_xxh64)},
        {"cpu_model", m.cpu_model},
        {"command_line", m.command_line},
        {"files", {{"snapshot", file(m.snapshot)}, {"log", file(m.log)}}},
    };
    return j.dump(2) + "\n";
}

bool manifest_from_json(const std::string& text, const std::string& arch, Manifest* m, std::string* err) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        *err = std::string(kManifestFile) + ": not valid JSON";
        return false;
    }
    if (!j.is_object()) {
        *err = std::string(kManifestFile) + ": must be a JSON object";
        return false;
    }
    const json* v = nullptr;
    if (!field(j, "", "format", json::value_t::string, &v, err)) {
        return false;
    }
    if (v->get<std::string>() != "hypanda-recording") {
        *err = std::string(kManifestFile) + ": format is " + shown(v->get<std::string>()) +
               ", not \"hypanda-recording\"";
        return false;
    }
    if (!field(j, "", "version", json::value_t::number_unsigned, &v, err)) {
        return false;
    }
    if (v->get<uint64_t>() != kManifestVersion) {
        *err = std::string(kManifestFile) + ": format version " + std::to_string(v->get<uint64_t>()) +
               " is not supported (this build reads version " + std::to_string(kManifestVersion) + ")";
        return false;
    }
    m->version = kManifestVersion;
    if (!field(j, "", "arch", json::value_t::string, &v, err)) {
        return false;
    }
    m->arch = v->get<std::string>();
    if (m->arch != arch) {
        *err = std::string(kManifestFile) + ": recorded for " + shown(m->arch) + ", this emulator replays " + arch;
        return false;
    }
    const json* ram = nullptr;
    const json* insns = nullptr;
    const json* cpu = nullptr;
    const json* cmd = nullptr;
    const json* files = nullptr;
    if (!field(j, "", "ram_bytes", json::value_t::number_unsigned, &ram, err) ||
        !field(j, "", "instructions", json::value_t::number_unsigned, &insns, err) ||
        !hex_field(j, "", "ram_xxh64", &m->ram_xxh64, err) ||
        !field(j, "", "cpu_model", json::value_t::string, &cpu, err) ||
        !field(j, "", "command_line", json::value_t::array, &cmd, err) ||
        !field(j, "", "files", json::value_t::object, &files, err) ||
        !file_entry(*files, "snapshot", &m->snapshot, err) || !file_entry(*files, "log", &m->log, err)) {
        return false;
    }
    m->ram_bytes = ram->get<uint64_t>();
    m->instructions = insns->get<uint64_t>();
    m->cpu_model = cpu->get<std::string>();
    m->command_line.clear();
    for (const json& word : *cmd) {
        if (!word.is_string()) {
            *err = std::string(kManifestFile) + ": command_line must hold only strings";
            return false;
        }
        m->command_line.push_back(word.get<std::string>());
    }
    return true;
}

bool check_file(const FileEntry& entry, const std::vector<uint8_t>& data, std::string* err) {
    if (data.size() != entry.bytes) {
        *err = entry.name + ": " + std::to_string(data.size()) + " bytes, the manifest says " +
               std::to_string(entry.bytes) + (data.size() < entry.bytes ? " (truncated)" : "");
        return false;
    }
    const uint64_t sum = xxh64(data.data(), data.size());
    if (sum != entry.xxh64) {
        *err = entry.name + ": checksum " + hex64(sum) + " does not match the manifest's " + hex64(entry.xxh64) +
               " (corrupted)";
        return false;
    }
    return true;
}

}  // namespace hypanda::rr
