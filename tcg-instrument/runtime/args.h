// The PANDA command-line grammar: -panda, -panda-arg, load_plugin's
// argument string, and typed argument values. Pure functions, no emulator
// state, so the unit tests exercise exactly what the emulator runs.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hypanda {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// A parse result: a value, or a one-line error message.
template <typename T>
struct [[nodiscard]] Parsed {
    std::optional<T> value;
    std::string error;

    static Parsed ok(T v) { return Parsed{std::move(v), {}}; }
    static Parsed fail(std::string e) { return Parsed{std::nullopt, std::move(e)}; }
    explicit operator bool() const { return value.has_value(); }
};

struct PluginRequest {
    std::string name;  // as written: a short name ("syscalls") or a file name
    KeyValues args;
};

// -panda 'a;b:k=v,k2=v2'. Plugins are separated by ';', a plugin's name
// from its arguments by the first ':', arguments by ',', key from value by
// the first '='. A backslash makes the next character literal (so a value
// may hold ';', ',', ':' or '='). Empty plugin names, empty keys and
// arguments without '=' are errors.
Parsed<std::vector<PluginRequest>> parse_panda_option(const std::string& text);

// "k=v,k2=v2" (load_plugin's and -panda's argument list, same escapes).
Parsed<KeyValues> parse_arg_list(const std::string& text);

struct PluginArg {
    std::string plugin;
    std::string key;
    std::string value;
};

// -panda-arg plugin:key=value (the value may contain anything).
Parsed<PluginArg> parse_panda_arg(const std::string& text);

// The short name of a plugin given by name or path: "panda_syscalls.so",
// "/x/panda_syscalls.so" and "syscalls" all give "syscalls".
std::string plugin_short_name(const std::string& name_or_path);

// The file name for a short name: "syscalls" gives "panda_syscalls.so".
std::string plugin_file_name(const std::string& short_name);

// Typed values. Booleans: true/false, yes/no, on/off, 1/0 (any case).
// Unsigned: decimal, 0x hex or 0 octal, no sign, no overflow. Double:
// strtod's whole-string forms, finite.
Parsed<bool> parse_bool_value(const std::string& text);
Parsed<uint64_t> parse_uint64_value(const std::string& text);
Parsed<double> parse_double_value(const std::string& text);

}  // namespace hypanda
