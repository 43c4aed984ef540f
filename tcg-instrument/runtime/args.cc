// The PANDA command-line grammar (see args.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <strings.h>

namespace hypanda {
namespace {

// Splits at unescaped `sep`, keeping escapes in the pieces; a trailing
// backslash is an error.
Parsed<std::vector<std::string>> split_escaped(const std::string& text, char sep) {
    std::vector<std::string> pieces(1);
    for (size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (c == '\\') {
            if (i + 1 == text.size()) {
                return Parsed<std::vector<std::string>>::fail("trailing backslash in '" + text + "'");
            }
            pieces.back() += c;
            pieces.back() += text[++i];
        } else if (c == sep) {
            pieces.emplace_back();
        } else {
            pieces.back() += c;
        }
    }
    return Parsed<std::vector<std::string>>::ok(std::move(pieces));
}

// Position of the first unescaped `c`, or npos.
size_t find_unescaped(const std::string& text, char c) {
    for (size_t i = 0; i < text.size(); i++) {
        if (text[i] == '\\') {
            i++;
        } else if (text[i] == c) {
            return i;
        }
    }
    return std::string::npos;
}

std::string unescape(const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size(); i++) {
        if (text[i] == '\\' && i + 1 < text.size()) {
            i++;
        }
        out += text[i];
    }
    return out;
}

bool is_blank(const std::string& s) {
    return s.find_first_not_of(" \t") == std::string::npos;
}

}  // namespace

Parsed<KeyValues> parse_arg_list(const std::string& text) {
    KeyValues out;
    if (text.empty()) {
        return Parsed<KeyValues>::ok(out);
    }
    auto pieces = split_escaped(text, ',');
    if (!pieces) {
        return Parsed<KeyValues>::fail(pieces.error);
    }
    for (const auto& piece : *pieces.value) {
        size_t eq = find_unescaped(piece, '=');
        if (eq == std::string::npos) {
            return Parsed<KeyValues>::fail("argument '" + unescape(piece) + "' has no '=': write key=value");
        }
        std::string key = unescape(piece.substr(0, eq));
        if (key.empty()) {
            return Parsed<KeyValues>::fail("argument '" + unescape(piece) + "' has an empty key");
        }
        out.emplace_back(key, unescape(piece.substr(eq + 1)));
    }
    return Parsed<KeyValues>::ok(std::move(out));
}

Parsed<std::vector<PluginRequest>> parse_panda_option(const std::string& text) {
    using Result = Parsed<std::vector<PluginRequest>>;
    auto plugins = split_escaped(text, ';');
    if (!plugins) {
        return Result::fail(plugins.error);
    }
    std::vector<PluginRequest> out;
    for (const auto& spec : *plugins.value) {
        size_t colon = find_unescaped(spec, ':');
        std::string name = unescape(spec.substr(0, colon));
        if (is_blank(name)) {
            return Result::fail("empty plugin name in '" + text + "'");
        }
        PluginRequest req{name, {}};
        if (colon != std::string::npos) {
            auto args = parse_arg_list(spec.substr(colon + 1));
            if (!args) {
                return Result::fail("plugin '" + name + "': " + args.error);
            }
            req.args = std::move(*args.value);
        }
        out.push_back(std::move(req));
    }
    return Result::ok(std::move(out));
}

Parsed<PluginArg> parse_panda_arg(const std::string& text) {
    size_t colon = text.find(':');
    if (colon == std::string::npos || colon == 0) {
        return Parsed<PluginArg>::fail("'" + text + "' is not plugin:key=value");
    }
    size_t eq = text.find('=', colon + 1);
    if (eq == std::string::npos) {
        return Parsed<PluginArg>::fail("'" + text + "' has no '=': write plugin:key=value");
    }
    if (eq == colon + 1) {
        return Parsed<PluginArg>::fail("'" + text + "' has an empty key");
    }
    return Parsed<PluginArg>::ok(PluginArg{plugin_short_name(text.substr(0, colon)),
                                           text.substr(colon + 1, eq - colon - 1),
                                           text.substr(eq + 1)});
}

std::string plugin_short_name(const std::string& name_or_path) {
    std::string base = name_or_path.substr(name_or_path.rfind('/') + 1);
    const std::string prefix = "panda_";
    const std::string suffix = ".so";
    if (base.size() > suffix.size() &&
        base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0) {
        base.resize(base.size() - suffix.size());
        if (base.compare(0, prefix.size(), prefix) == 0 && base.size() > prefix.size()) {
            base = base.substr(prefix.size());
        }
    }
    return base;
}

std::string plugin_file_name(const std::string& short_name) {
    return "panda_" + short_name + ".so";
}

Parsed<bool> parse_bool_value(const std::string& text) {
    for (const char* t : {"true", "yes", "on", "1"}) {
        if (strcasecmp(text.c_str(), t) == 0) {
            return Parsed<bool>::ok(true);
        }
    }
    for (const char* f : {"false", "no", "off", "0"}) {
        if (strcasecmp(text.c_str(), f) == 0) {
            return Parsed<bool>::ok(false);
        }
    }
    return Parsed<bool>::fail("'" + text + "' is not a boolean (true/false, yes/no, on/off, 1/0)");
}

Parsed<uint64_t> parse_uint64_value(const std::string& text) {
    if (text.empty() || text.find_first_of(" \t+-") != std::string::npos) {
        return Parsed<uint64_t>::fail("'" + text + "' is not an unsigned number");
    }
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(text.c_str(), &end, 0);
    if (*end != '\0') {
        return Parsed<uint64_t>::fail("'" + text + "' is not an unsigned number");
    }
    if (errno == ERANGE) {
        return Parsed<uint64_t>::fail("'" + text + "' does not fit in 64 bits");
    }
    return Parsed<uint64_t>::ok(v);
}

Parsed<double> parse_double_value(const std::string& text) {
    if (text.empty() || text.find_first_of(" \t") != std::string::npos) {
        return Parsed<double>::fail("'" + text + "' is not a number");
    }
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (*end != '\0') {
        return Parsed<double>::fail("'" + text + "' is not a number");
    }
    if (!std::isfinite(v)) {
        return Parsed<double>::fail("'" + text + "' is not a finite number");
    }
    return Parsed<double>::ok(v);
}

}  // namespace hypanda
