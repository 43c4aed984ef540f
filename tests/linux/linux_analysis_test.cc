// The analysis plugins on the busybox Linux guest (make-linux-guest,
// hplinux=analysis), each against an oracle this project did not write:
// binutils' `nm` for where hpana's functions are, hpana's source for what
// calls what (tests/linux/hpana.c), and the guest kernel's own /proc.
// stringsearch and coverage share one boot (both plugins loaded; the memory
// callbacks stringsearch needs make it the slowest).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <set>
#include <optional>
#include <map>
#include <tuple>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <string.h>

#include "run.h"

namespace {

using hypanda::test::build_root;
using hypanda::test::debug_exit_status;
using hypanda::test::describe;
using hypanda::test::emulator;
using hypanda::test::hex;
using hypanda::test::only_line;
using hypanda::test::read_file;
using hypanda::test::run;

constexpr std::chrono::seconds kLimit{600};

std::string guest_dir() { return build_root() + "/tests/linux"; }

struct Symbol {
    uint64_t address = 0;
    uint64_t size = 0;
    bool contains(uint64_t a) const { return a >= address && a < address + size; }
};

// hpana's function symbols as binutils' nm lists them ("addr size T name").
std::map<std::string, Symbol> hpana_symbols() {
    const auto r = run({"nm", "-S", "--defined-only", guest_dir() + "/hpana"}, std::chrono::seconds(60));
    std::map<std::string, Symbol> out;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string address, size, type, name;
        if (fields >> address >> size >> type >> name && (type == "T" || type == "t")) {
            out[name] = Symbol{std::stoull(address, nullptr, 16), std::stoull(size, nullptr, 16)};
        }
    }
    return out;
}

// Boots the guest in analysis mode (or init's `mode`) with `panda` plugins
// (and `extra` options); the plugins in build/tests/plugins are found too.
hypanda::test::RunResult boot(const std::string& panda, const std::vector<std::string>& extra = {},
                              const std::string& mode = "analysis") {
    const std::string dir = guest_dir();
    std::vector<std::string> args = {
        emulator(), "-accel", "tcg", "-display", "none", "-serial", "stdio", "-monitor", "none",
        "-no-reboot", "-m", "512", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel",
        dir + "/vmlinuz", "-initrd", dir + "/initramfs.cpio.gz", "-append",
        "console=ttyS0 panic=-1 hplinux=" + mode, "-panda", panda};
    args.insert(args.end(), extra.begin(), extra.end());
    hypanda::test::Child child(args, {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
    return child.wait(kLimit);
}

std::vector<uint64_t> numbers_after(const std::string& text, const std::string& prefix) {
    std::vector<uint64_t> out;
    std::istringstream in(only_line(text, prefix).substr(prefix.size()));
    std::string word;
    while (in >> word) {
        out.push_back(std::stoull(word, nullptr, 0));
    }
    return out;
}

// `hpana recurse 5`: main -> cmd_recurse -> hpana_recurse x6 -> hpana_bottom.
// At hpana_bottom's first instruction (hooked through the hooks plugin),
// callstack_instr's shadow stack must hold exactly those frames, and
// hpana_recurse must have been called and returned from six times.
TEST(LinuxAnalysis, CallstackInstrMatchesTheProgramsCallChain) {
    auto sym = hpana_symbols();
    for (const char* name : {"main", "cmd_recurse", "hpana_recurse", "hpana_bottom"}) {
        ASSERT_TRUE(sym.count(name)) << "nm lists no " << name << " in " << guest_dir() << "/hpana";
    }
    hypanda::test::TempDir tmp;
    const auto r = boot("callprobe:at=" + hex(sym["hpana_bottom"].address) +
                        ",func=" + hex(sym["hpana_recurse"].address) + ",output=" + tmp.file("probe"));
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(only_line(r.out, "HPANA recurse "), "HPANA recurse 5 6");
    const std::string probe = read_file(tmp.file("probe"));

    const auto hook = numbers_after(probe, "hook ");
    ASSERT_EQ(hook.size(), 2u) << probe;
    EXPECT_EQ(hook[1], 1u) << "hpana_bottom runs once";

    const int depth = 6;  // hpana_recurse(5) .. hpana_recurse(0)
    const auto functions = numbers_after(probe, "functions");
    ASSERT_GE(functions.size(), size_t(depth + 3)) << probe;
    std::vector<uint64_t> expected = {sym["hpana_bottom"].address};
    expected.insert(expected.end(), depth, sym["hpana_recurse"].address);
    expected.push_back(sym["cmd_recurse"].address);
    expected.push_back(sym["main"].address);
    EXPECT_EQ(std::vector<uint64_t>(functions.begin(), functions.begin() + depth + 3), expected) << probe;

    // Return addresses: into hpana_recurse (the call of hpana_bottom, then
    // five recursive calls), then into cmd_recurse, then into main.
    const auto callers = numbers_after(probe, "callers");
    ASSERT_EQ(callers.size(), functions.size()) << probe;
    for (int i = 0; i < depth; i++) {
        EXPECT_TRUE(sym["hpana_recurse"].contains(callers[i])) << i << ": " << hex(callers[i]);
    }
    EXPECT_TRUE(sym["cmd_recurse"].contains(callers[depth])) << hex(callers[depth]);
    EXPECT_TRUE(sym["main"].contains(callers[depth + 1])) << hex(callers[depth + 1]);
    // The recursive calls all return to one place, the call of hpana_bottom
    // to another.
    for (int i = 2; i < depth; i++) {
        EXPECT_EQ(callers[i], callers[1]);
    }
    EXPECT_NE(callers[0], callers[1]);

    EXPECT_EQ(only_line(probe, "calls "), "calls 6 rets 6");
}

// ---- strace's output -------------------------------------------------------------

// One call as strace -f -X raw prints it: "name(arg, arg, ...) = ret".
struct StraceCall {
    std::string name;
    std::vector<std::string> args;  // as printed, split at top-level commas
    std::string ret;                // "3", "0x7f...", "-1 ENOENT (...)", "?"
    std::string line;
};

// Splits strace's argument list at the commas outside quotes, brackets and
// comments.
std::vector<std::string> split_args(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    int depth = 0;
    bool quoted = false;
    for (size_t i = 0; i < s.size(); i++) {
        const char c = s[i];
        if (quoted) {
            cur += c;
            if (c == '\\' && i + 1 < s.size()) {
                cur += s[++i];
            } else if (c == '"') {
                quoted = false;
            }
            continue;
        }
        if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {  // a /* comment */
            const size_t end = s.find("*/", i + 2);
            i = end == std::string::npos ? s.size() : end + 1;
            continue;
        }
        if (c == '"') {
            quoted = true;
        } else if (c == '{' || c == '[' || c == '(') {
            depth++;
        } else if (c == '}' || c == ']' || c == ')') {
            depth--;
        } else if (c == ',' && depth == 0) {
            out.push_back(cur);
            cur.clear();
            continue;
        }
        cur += c;
    }
    if (!cur.empty() || !out.empty()) {
        out.push_back(cur);
    }
    for (auto& a : out) {
        a.erase(0, a.find_first_not_of(' '));
        a.erase(a.find_last_not_of(' ') + 1);
    }
    return out;
}

// The calls of each process strace traced, in order: lines "PID text",
// with calls another process interrupted ("<unfinished ...>", then
// "<... name resumed>") joined, and signal and exit notes dropped.
std::map<long, std::vector<StraceCall>> parse_strace(const std::vector<std::string>& lines) {
    std::map<long, std::vector<StraceCall>> out;
    std::map<long, std::string> unfinished;
    for (const auto& raw : lines) {
        std::istringstream in(raw);
        long pid;
        std::string text;
        in >> pid;
        std::getline(in >> std::ws, text);
        if (text.rfind("+++", 0) == 0 || text.rfind("---", 0) == 0) {
            continue;
        }
        const std::string cut = " <unfinished ...>";
        if (text.size() >= cut.size() && text.compare(text.size() - cut.size(), cut.size(), cut) == 0) {
            unfinished[pid] = text.substr(0, text.size() - cut.size());
            continue;
        }
        if (text.rfind("<... ", 0) == 0) {
            const size_t resumed = text.find(" resumed>");
            text = unfinished[pid] + text.substr(resumed + 9);
            unfinished.erase(pid);
        }
        // "name(args)<spaces>= ret": the last ")" followed by " = ".
        size_t close = std::string::npos;
        for (size_t at = text.find(')'); at != std::string::npos; at = text.find(')', at + 1)) {
            const size_t eq = text.find_first_not_of(' ', at + 1);
            if (eq != std::string::npos && text.compare(eq, 2, "= ") == 0) {
                close = at;
            }
        }
        const size_t open = text.find('(');
        if (open == std::string::npos || close == std::string::npos) {
            ADD_FAILURE() << "cannot read strace's line: " << raw;
            continue;
        }
        StraceCall c;
        c.name = text.substr(0, open);
        c.args = split_args(text.substr(open + 1, close - open - 1));
        c.ret = text.substr(text.find("= ", close) + 2);
        c.line = text;
        out[pid].push_back(c);
    }
    return out;
}

// strace's C-escaped string body (without the quotes) as bytes.
std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out += s[i];
            continue;
        }
        const char c = s[++i];
        switch (c) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'v': out += '\v'; break;
        case 'f': out += '\f'; break;
        case 'x': out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)); i += 2; break;
        default:
            if (c >= '0' && c <= '7') {
                size_t n = 1;
                while (n < 3 && i + n < s.size() && s[i + n] >= '0' && s[i + n] <= '7') {
                    n++;
                }
                out += static_cast<char>(std::stoi(s.substr(i, n), nullptr, 8));
                i += n - 1;
            } else {
                out += c;
            }
        }
    }
    return out;
}

// A number strace printed: decimal, 0x hex, 0-prefixed octal, NULL, or
// flags joined with '|' (e.g. "0x1200000|17").
std::optional<uint64_t> strace_number(const std::string& text) {
    if (text == "NULL") {
        return 0;
    }
    uint64_t value = 0;
    std::istringstream parts(text);
    std::string part;
    while (std::getline(parts, part, '|')) {
        if (part.empty() || !(std::isdigit(static_cast<unsigned char>(part[0])) || part[0] == '-')) {
            return std::nullopt;
        }
        size_t used = 0;
        value |= part[0] == '-' ? static_cast<uint64_t>(std::stoll(part, &used, 0))
                                : std::stoull(part, &used, 0);
        if (used != part.size()) {
            return std::nullopt;
        }
    }
    return value;
}

// Whether strace's argument `s` shows what syscalls2 logged as `ours`.
// Structures and arrays strace decodes ({...}, [...]) are not compared:
// syscalls2 logs their address.
bool same_arg(const std::string& s, const nlohmann::json& ours, std::string* why) {
    if (s.empty() || s[0] == '{' || s[0] == '[' || s[0] == '~') {
        return true;
    }
    if (s[0] == '"') {
        const bool truncated = s.size() >= 4 && s.compare(s.size() - 4, 4, "\"...") == 0;
        const std::string text = unescape(s.substr(1, s.size() - (truncated ? 5 : 2)));
        std::string logged;
        if (ours.is_object() && ours.contains("str")) {
            logged = ours["str"];
        } else if (ours.is_object() && ours.contains("buf")) {
            logged = ours["buf"];
            // A buffer strace shows as a string ends at its NUL (getcwd).
            if (!truncated && logged.size() > text.size() && logged[text.size()] == '\0') {
                logged.resize(text.size());
            }
        } else {
            *why = "strace read a string, syscalls2 did not";
            return false;
        }
        const bool ok = truncated ? logged.compare(0, text.size(), text) == 0 : logged == text;
        if (!ok) {
            *why = "strings differ";
        }
        return ok;
    }
    auto number = strace_number(s);
    if (!number) {
        *why = "strace's argument '" + s + "' is not a number";
        return false;
    }
    uint64_t v;
    if (ours.is_object()) {
        v = ours.value("ptr", uint64_t{0});
    } else if (ours.is_number_unsigned()) {
        v = ours.get<uint64_t>();
    } else {
        v = static_cast<uint64_t>(ours.get<int64_t>());
    }
    // A 32-bit argument the kernel declares wider (mmap's fd): strace shows
    // it as the int it is.
    const bool ok = v == *number || static_cast<uint32_t>(v) == static_cast<uint32_t>(*number);
    if (!ok) {
        *why = "values differ";
    }
    return ok;
}

// strace's result as the kernel returned it: "-1 ENOENT (...)" is -ENOENT
// (the name looked up with glibc's strerrorname_np), "?" no return.
std::optional<int64_t> strace_return(const std::string& ret) {
    if (ret.rfind("?", 0) == 0) {
        return std::nullopt;
    }
    if (ret.rfind("-1 E", 0) == 0) {
        const std::string name = ret.substr(3, ret.find(' ', 3) - 3);
        for (int e = 1; e < 4096; e++) {
            const char* n = strerrorname_np(e);
            if (n != nullptr && name == n) {
                return -e;
            }
        }
        return INT64_MIN;
    }
    return static_cast<int64_t>(*strace_number(ret.substr(0, ret.find(' '))));
}

// strace names some clone arguments; syscalls2 logs them in the kernel's
// order (x86_64: flags, newsp, parent_tidptr, child_tidptr, tls).
int clone_index(const std::string& name) {
    static const std::map<std::string, int> order = {
        {"flags", 0}, {"child_stack", 1}, {"parent_tid", 2}, {"parent_tidptr", 2},
        {"child_tidptr", 3}, {"tls", 4}};
    auto it = order.find(name);
    return it == order.end() ? -1 : it->second;
}

// Compares syscalls2's JSON log with the strace output in `serial` (the
// guest's serial lines "HPANA strace ..."): for each process strace traced,
// syscalls2's calls (from the execve strace starts it with) equal strace's,
// call for call: name, every argument strace prints (numbers, strings,
// buffers; structures strace decodes are skipped), and the result.
// One process's calls: strace's (after the execve of `program` that
// starts what strace shows) against syscalls2's log, call for call: name,
// every argument strace prints, return value.
void expect_process_equals_strace(long pid, const std::vector<StraceCall>& calls, std::vector<nlohmann::json> mine,
                                  const std::string& program, size_t* strings,
                                  std::vector<std::string>* beyond_prototype) {
    // strace shows a process from the execve it starts it with; before
    // that its child ran strace's own set-up.
    if (calls.front().name == "execve") {
        auto first = std::find_if(mine.begin(), mine.end(), [&program](const nlohmann::json& j) {
            return j["name"] == "execve" && j["args"][0].value("str", "") == program;
        });
        ASSERT_NE(first, mine.end()) << "syscalls2 saw no execve of " + program + " in " << pid;
        mine.erase(mine.begin(), first);
    }
    ASSERT_EQ(mine.size(), calls.size()) << "process " << pid;
    for (size_t i = 0; i < calls.size(); i++) {
        const StraceCall& s = calls[i];
        const nlohmann::json& m = mine[i];
        const std::string where = "process " + std::to_string(pid) + " call " + std::to_string(i) +
                                  ": strace: " + s.line + "\n  syscalls2: " + m.dump();
        ASSERT_EQ(m["name"].get<std::string>(), s.name) << where;
        const auto& args = m["args"];
        ASSERT_LE(s.args.size(), args.size()) << where;
        for (size_t a = 0; a < s.args.size(); a++) {
            std::string text = s.args[a];
            size_t index = a;
            if (s.name == "clone" && text.find('=') != std::string::npos) {
                const int k = clone_index(text.substr(0, text.find('=')));
                ASSERT_GE(k, 0) << where;
                index = static_cast<size_t>(k);
                text = text.substr(text.find('=') + 1);
            }
            if (!text.empty() && text[0] == '"' && args[index].is_number()) {
                // strace decodes this one by the call's other arguments
                // (prctl(PR_SET_NAME, name)); the kernel's prototype
                // says an integer, which is what syscalls2 logs.
                beyond_prototype->push_back(s.name + " argument " + std::to_string(a));
                continue;
            }
            std::string why;
            EXPECT_TRUE(same_arg(text, args[index], &why)) << "argument " << a << ": " << why << "\n" << where;
            *strings += !text.empty() && text[0] == '"';
        }
        const auto ret = strace_return(s.ret);
        if (ret) {
            EXPECT_EQ(m["ret"].get<int64_t>(), *ret) << where;
        } else {
            EXPECT_TRUE(m["ret"].is_null()) << where;
        }
    }
}

void expect_log_equals_strace(const std::string& serial, const std::string& log_json) {
    std::vector<std::string> strace_lines;
    for (const auto& l : hypanda::test::lines_starting_with(serial, "HPANA strace ")) {
        strace_lines.push_back(l.substr(13));
    }
    const auto strace = parse_strace(strace_lines);
    ASSERT_EQ(strace.size(), 2u) << "hpana and its child";

    std::map<long, std::vector<nlohmann::json>> ours;
    std::istringstream log(log_json);
    std::string line;
    while (std::getline(log, line)) {
        auto j = nlohmann::json::parse(line);
        ours[j["tid"].get<long>()].push_back(j);
    }

    size_t strings = 0;
    std::vector<std::string> beyond_prototype;
    for (const auto& [pid, calls] : strace) {
        expect_process_equals_strace(pid, calls, ours[pid], "/bin/hpana", &strings, &beyond_prototype);
    }
    EXPECT_EQ(beyond_prototype, std::vector<std::string>{"prctl argument 1"});  // busybox names itself
    EXPECT_GE(strings, 8u);

    // And what hpana.c's cmd_syscalls does, in its order (after the C
    // library's start-up calls), in the parent and in the child.
    auto names = [](const std::vector<StraceCall>& calls) {
        std::vector<std::string> out;
        for (const auto& c : calls) {
            out.push_back(c.name);
        }
        return out;
    };
    const auto& parent = strace.begin()->second;
    const auto& child = std::next(strace.begin())->second;
    const std::vector<std::string> tail = {"openat", "write", "close", "openat", "read", "close", "mmap",
                                           "munmap", "clone", "wait4", "openat", "exit_group"};
    auto p = names(parent);
    ASSERT_GE(p.size(), tail.size());
    EXPECT_EQ(std::vector<std::string>(p.end() - tail.size(), p.end()), tail);
    EXPECT_EQ(parent[parent.size() - 2].ret, "-1 ENOENT (No such file or directory)");
    auto c = names(child);
    ASSERT_GE(c.size(), 3u);
    EXPECT_EQ(c[1], "getpid");
    EXPECT_EQ(child[2].args[0], "\"/bin/busybox\"");
    EXPECT_EQ(c.back(), "exit_group");
}

// The test program runs under Debian's strace (-f -X raw) in the guest
// while syscalls2 logs every call in JSON; the two agree.
// hpana32's INT 0x80 calls (i386 numbers and names) under strace against
// syscalls2's log, then what hpana32.c makes, in its order.
void expect_log32_equals_strace(const std::string& serial, const std::string& log_json) {
    std::vector<std::string> strace_lines;
    for (const auto& l : hypanda::test::lines_starting_with(serial, "HPANA strace32 ")) {
        strace_lines.push_back(l.substr(15));
    }
    const auto strace = parse_strace(strace_lines);
    ASSERT_EQ(strace.size(), 1u) << "hpana32 alone";
    std::vector<nlohmann::json> ours;
    std::istringstream log(log_json);
    std::string line;
    while (std::getline(log, line)) {
        auto j = nlohmann::json::parse(line);
        if (j["tid"].get<long>() == strace.begin()->first) {
            ours.push_back(j);
        }
    }
    size_t strings = 0;
    std::vector<std::string> beyond_prototype;
    expect_process_equals_strace(strace.begin()->first, strace.begin()->second, ours, "/bin/hpana32", &strings,
                                 &beyond_prototype);
    EXPECT_EQ(beyond_prototype, std::vector<std::string>{});
    EXPECT_EQ(strings, 7u);  // execve's path, open's path twice, write's buffer twice, read's, the failing open's path
    std::vector<std::string> names;
    for (const auto& c : strace.begin()->second) {
        names.push_back(c.name);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"execve", "open", "write", "close", "open", "read", "close", "write",
                                               "getpid", "open", "exit_group"}));
    EXPECT_EQ(strace.begin()->second[9].ret, "-1 ENOENT (No such file or directory)");
}

// osi's process events of the processes strace traced, in order, against
// strace's: a successful execve starts a program (its name: the file's
// base name, as the kernel sets comm), exit_group ends the process.
void expect_process_events_equal_strace(const std::string& serial, const std::string& events) {
    std::vector<std::string> expected;
    std::map<long, std::string> name;
    for (const auto& l : hypanda::test::lines_starting_with(serial, "HPANA strace ")) {
        std::istringstream in(l.substr(13));
        long pid;
        std::string text;
        in >> pid;
        std::getline(in >> std::ws, text);
        while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) {
            text.pop_back();
        }
        if (text.rfind("execve(\"", 0) == 0 && text.size() > 3 && text.compare(text.size() - 3, 3, "= 0") == 0) {
            const std::string path = text.substr(8, text.find('"', 8) - 8);
            name[pid] = path.substr(path.rfind('/') + 1).substr(0, 15);
            expected.push_back("start " + std::to_string(pid) + " " + name[pid]);
        } else if (text.rfind("exit_group(", 0) == 0) {
            expected.push_back("end " + std::to_string(pid) + " " + name[pid]);
        }
    }
    ASSERT_EQ(expected.size(), 4u) << "hpana and its child each start and end: " << testing::PrintToString(expected);
    std::vector<std::string> seen;
    std::istringstream in(events);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string kind;
        long pid = 0;
        f >> kind >> pid;
        if (name.count(pid)) {
            seen.push_back(line);
        }
    }
    EXPECT_EQ(seen, expected) << events;
}

TEST(LinuxAnalysis, Syscalls2EqualsStrace) {
    hypanda::test::TempDir tmp;
    const auto r = boot("syscalls2:log=" + tmp.file("calls.json") + ",log_format=json;procevents:output=" +
                        tmp.file("events"));
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    expect_log_equals_strace(r.out, read_file(tmp.file("calls.json")));
    expect_log32_equals_strace(r.out, read_file(tmp.file("calls.json")));
    expect_process_events_equal_strace(r.out, read_file(tmp.file("events")));
}

// The same run recorded with syscalls2 logging, and replayed with it: osi
// finds the kernel in the replayed RAM, the replay's log is the recorded
// run's byte for byte, and it agrees with the strace output the recorded
// guest printed. (Recording with plugins that read guest memory in the
// middle of a block once logged their reads as device DMA, out of order.)
TEST(LinuxAnalysis, Syscalls2InReplayEqualsStrace) {
    hypanda::test::TempDir tmp;
    const auto r = boot("syscalls2:log=" + tmp.file("record.json") + ",log_format=json",
                        {"-record-from", ":" + tmp.file("rec")});
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    const auto replayed = run({emulator(), "-replay", tmp.file("rec"), "-panda",
                               "syscalls2:log=" + tmp.file("replay.json") + ",log_format=json"},
                              kLimit);
    ASSERT_EQ(replayed.exit_status, 0) << describe(replayed);
    EXPECT_EQ(hypanda::test::lines_starting_with(replayed.err, "replay verified").size(), 1u) << replayed.err;
    const std::string recorded = read_file(tmp.file("record.json"));
    EXPECT_FALSE(recorded.empty());
    EXPECT_TRUE(read_file(tmp.file("replay.json")) == recorded) << "the replay's log differs from the recorded run's";
    expect_log_equals_strace(r.out, read_file(tmp.file("replay.json")));
}

// What /proc/PID/stat calls a process, as osi reports it: the task's comm,
// which holds 15 characters. /proc shows kernel threads' full names
// (get_kthread_comm) and adds a kworker's current workqueue after a '-'
// (wq_worker_comm), both in fs/proc/array.c.
std::string comm_of(std::string proc_name) {
    if (proc_name.rfind("kworker/", 0) == 0 && proc_name.find('-') != std::string::npos) {
        proc_name.resize(proc_name.find('-'));
    }
    return proc_name.substr(0, 15);
}

// `hpana osi` prints the guest's /proc (every process's pid, ppid and name,
// and its own /proc/self/maps), then calls hpana_osi_marker, where the
// osiprobe plugin asks osi (with osi_linux reading the kernel through its
// BTF) the same questions. The answers must be the same.
// One boot with `osi_linux` (its arguments) and osiprobe at the marker;
// osi's answers against the guest's /proc. Returns the boot's output.
std::string expect_osi_matches_proc(const std::string& osi_linux) {
    auto sym = hpana_symbols();
    EXPECT_TRUE(sym.count("hpana_osi_marker"));
    hypanda::test::TempDir tmp;
    const auto r = boot(osi_linux + ";osiprobe:at=" + hex(sym["hpana_osi_marker"].address) + ",output=" +
                        tmp.file("osi"));
    EXPECT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    const std::string osi = read_file(tmp.file("osi"));
    EXPECT_FALSE(osi.empty()) << "the marker was not reached\n" << describe(r);

    // Processes: (pid, ppid, name); osi lists init_task (pid 0) too, which
    // /proc does not.
    using Process = std::tuple<long, long, std::string>;
    std::vector<Process> proc, seen;
    std::string hpana_pid;
    for (const auto& line : hypanda::test::lines_starting_with(r.out, "HPANA proc ")) {
        std::istringstream in(line.substr(11));
        long pid, ppid;
        std::string name;
        in >> pid >> ppid;
        std::getline(in >> std::ws, name);
        proc.emplace_back(pid, ppid, comm_of(name));
        if (name == "hpana") {
            hpana_pid = std::to_string(pid);
        }
    }
    for (const auto& line : hypanda::test::lines_starting_with(osi, "proc ")) {
        std::istringstream in(line.substr(5));
        long pid, ppid;
        std::string name;
        in >> pid >> ppid;
        std::getline(in >> std::ws, name);
        if (pid != 0) {
            seen.emplace_back(pid, ppid, name);
        }
    }
    std::sort(proc.begin(), proc.end());
    std::sort(seen.begin(), seen.end());
    EXPECT_GT(proc.size(), 20u);  // init, kthreadd and its kernel threads, hpana
    EXPECT_EQ(seen, proc);
    EXPECT_FALSE(hpana_pid.empty());
    EXPECT_EQ(only_line(osi, "current "), "current " + hpana_pid + " 1 hpana");
    EXPECT_EQ(only_line(osi, "thread "), "thread " + hpana_pid + " " + hpana_pid);

    // Mappings, in /proc/PID/maps's notation without device and inode:
    // "start-end perms offset path".
    std::vector<std::string> maps, mapped;
    for (const auto& line : hypanda::test::lines_starting_with(r.out, "HPANA map ")) {
        std::istringstream in(line.substr(10));
        std::string range, perms, offset, device, inode, path;
        in >> range >> perms >> offset >> device >> inode;
        std::getline(in >> std::ws, path);
        maps.push_back(range + " " + perms + " " + offset + " " + path);
    }
    for (const auto& line : hypanda::test::lines_starting_with(osi, "map ")) {
        std::string rest = line.substr(4);
        while (!rest.empty() && rest.back() == ' ') {
            rest.pop_back();  // an anonymous mapping's empty path
        }
        mapped.push_back(rest);
    }
    for (auto& m : maps) {
        while (!m.empty() && m.back() == ' ') {
            m.pop_back();
        }
    }
    EXPECT_GE(maps.size(), 8u);  // hpana's segments, heap, stack, vvar, vdso
    EXPECT_EQ(mapped, maps);

    // Kernel modules, as /proc/modules lists them (newest first): name,
    // size, address; hpkinfo.ko is loaded in analysis mode.
    std::vector<std::string> proc_modules, osi_modules;
    for (const auto& line : hypanda::test::lines_starting_with(r.out, "HPANA module ")) {
        std::istringstream in(line.substr(13));
        std::string name, size, refs, deps, state, address;
        in >> name >> size >> refs >> deps >> state >> address;
        proc_modules.push_back(name + " " + size + " " + hex(std::stoull(address, nullptr, 16)));
    }
    for (const auto& line : hypanda::test::lines_starting_with(osi, "module ")) {
        std::istringstream in(line.substr(7));
        std::string name, size, address;
        in >> name >> size >> address;
        osi_modules.push_back(name + " " + size + " " + hex(std::stoull(address, nullptr, 16)));
    }
    EXPECT_EQ(proc_modules.size(), 1u);
    EXPECT_EQ(osi_modules, proc_modules);
    return r.out;
}

TEST(LinuxAnalysis, OsiMatchesProc) {
    const std::string out = expect_osi_matches_proc("osi_linux");
    if (HasFailure()) {
        return;
    }
    // The same with a PANDA kernelinfo.conf profile instead of BTF: the
    // group hpkinfo.ko (tests/linux/hpkinfo) printed in that boot, its
    // values from offsetof() over the kernel's own headers.
    std::string conf;
    bool ended = false;
    for (const auto& line : hypanda::test::lines_starting_with(out, "HPKINFO ")) {
        std::string text = line.substr(8);
        while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) {
            text.pop_back();
        }
        if (text == "end") {
            ended = true;
        } else if (!conf.empty() || text == "[hpkinfo]") {
            conf += text + "\n";
        }
    }
    ASSERT_TRUE(ended) << "hpkinfo.ko printed no profile:\n" << out;
    hypanda::test::TempDir tmp;
    {
        std::ofstream(tmp.file("kernelinfo.conf")) << "# made by hpkinfo.ko in the guest\n" << conf;
    }
    expect_osi_matches_proc("osi_linux:kconf_file=" + tmp.file("kernelinfo.conf") + ",kconf_group=hpkinfo");
}

// ---- file_taint and tainted_branch -------------------------------------------

// hplinux=taint: `hpana filesum /lib/hpana-input` reads the file with one
// read() and hpana_filesum branches once per byte on the running sum
// sum = sum * 31 + byte[k] (hpana.c). file_taint labels each byte read
// with its offset in the file and turns taint on at the open (taint2's
// manual=on: the boot before runs without it). So, from the source:
// exactly one tainted branch per byte read, all at one instruction of
// hpana_filesum, the k-th carrying {0, ..., k}, in process hpana; nothing
// else in the guest branches on the bytes (hpana prints only the count).
TEST(LinuxTaint, FileTaintTaintsExactlyTheChecksumsBranches) {
    auto sym = hpana_symbols();
    ASSERT_TRUE(sym.count("hpana_filesum"))
        << "nm lists no hpana_filesum in " << guest_dir() << "/hpana";
    hypanda::test::TempDir tmp;
    const auto r =
        boot("taint2:manual=on;file_taint:filename=hpana-input;tainted_branch:process=on,out=" +
                 tmp.file("branches"),
             {}, "taint");
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    // 91: the length of the line make-linux-guest writes to the file.
    EXPECT_EQ(only_line(r.out, "HPANA filesum "), "HPANA filesum 91");
    EXPECT_EQ(hypanda::test::lines_starting_with(r.err, "taint2:"),
              std::vector<std::string>{
                  "taint2: taint tracking on from here, with an empty shadow state"});
    std::istringstream in(read_file(tmp.file("branches")));
    std::string line, labels, first_pc, first_pid;
    size_t k = 0;
    while (std::getline(in, line)) {
        labels += (k == 0 ? "" : ",") + std::to_string(k);
        char pc[32] = {}, kind[32] = {}, got[1024] = {}, process[32] = {}, pid[32] = {};
        unsigned long long asid = 0;
        unsigned tcn = 0;
        ASSERT_EQ(std::sscanf(line.c_str(),
                              "TAINTED_BRANCH pc=%31s kind=%31s asid=%llx labels=%1023s tcn=%u "
                              "process=%31s pid=%31s",
                              pc, kind, &asid, got, &tcn, process, pid),
                  7)
            << line;
        EXPECT_TRUE(sym["hpana_filesum"].contains(std::stoull(pc, nullptr, 16))) << line;
        if (k == 0) {
            first_pc = pc;
            first_pid = pid;
        }
        EXPECT_EQ(std::string(pc), first_pc) << "one branch instruction: " << line;
        EXPECT_EQ(std::string(kind), "conditional") << line;
        EXPECT_EQ(std::string(got), labels) << "branch " << k;
        EXPECT_EQ(std::string(process), "hpana") << line;
        EXPECT_EQ(std::string(pid), first_pid) << line;
        k++;
    }
    EXPECT_EQ(k, 91u) << "one tainted branch per byte";
}

// ---- stringsearch and coverage (one boot) ---------------------------------------

class StringsAndCoverage : public testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new hypanda::test::TempDir();
        const std::string hpana = guest_dir() + "/hpana";
        run_ = new hypanda::test::RunResult(
            boot("stringsearch:str=hpana-needle:7f3a9c,output=" + dir_->file("matches") +
                 ";coverage:process=hpana,drcov=" + dir_->file("drcov") + ",lcov=" + dir_->file("lcov") +
                 ",elf=" + hpana + ";procprobe:process=hpana,other=sh,at=" +
                 hex(hpana_symbols()["hpana_put"].address) + ",output=" + dir_->file("procprobe")));
    }
    static void TearDownTestSuite() {
        delete run_;
        delete dir_;
    }
    static hypanda::test::TempDir* dir_;
    static hypanda::test::RunResult* run_;
};
hypanda::test::TempDir* StringsAndCoverage::dir_;
hypanda::test::RunResult* StringsAndCoverage::run_;

// `hpana strings 3`: hpana_put copies the needle byte by byte (one load,
// one store instruction) and hpana_sum reads it back (one load), three
// rounds, both called from cmd_strings. Among hpana's own code, exactly
// those three instructions are tap points, each with 3 matches, all in one
// address space, each with its caller in cmd_strings.
TEST_F(StringsAndCoverage, StringsearchFindsTheNeedleAtHpanasOwnInstructions) {
    ASSERT_EQ(run_->exit_status, debug_exit_status(0)) << describe(*run_);
    const std::string needle = "hpana-needle:7f3a9c";
    int sum = 0;
    for (char c : needle) {
        sum += c;
    }
    EXPECT_EQ(only_line(run_->out, "HPANA strings "), "HPANA strings 3 " + std::to_string(3 * sum));
    auto sym = hpana_symbols();
    for (const char* name : {"hpana_put", "hpana_sum", "cmd_strings"}) {
        ASSERT_TRUE(sym.count(name)) << name;
    }
    const auto in_hpana = [&](uint64_t pc) {
        for (const auto& [name, s] : sym) {
            if (s.contains(pc)) {
                return name;
            }
        }
        return std::string();
    };
    std::istringstream matches(read_file(dir_->file("matches")));
    std::string line;
    std::map<std::string, int> taps_in;  // function -> tap points
    std::set<uint64_t> asids;
    size_t lines = 0;
    while (std::getline(matches, line)) {
        lines++;
        std::istringstream fields(line);
        std::string caller, pc, asid;
        uint64_t count = 0;
        ASSERT_TRUE(fields >> caller >> pc >> asid >> count) << line;
        const std::string function = in_hpana(std::stoull(pc, nullptr, 16));
        if (function.empty()) {
            continue;  // the kernel unpacking the initramfs, copying hpana's file
        }
        taps_in[function]++;
        asids.insert(std::stoull(asid, nullptr, 16));
        EXPECT_EQ(count, 3u) << line;
        EXPECT_TRUE(sym["cmd_strings"].contains(std::stoull(caller, nullptr, 16))) << line;
    }
    EXPECT_EQ(taps_in, (std::map<std::string, int>{{"hpana_put", 2}, {"hpana_sum", 1}}))
        << read_file(dir_->file("matches"));
    EXPECT_EQ(asids.size(), 1u);
    EXPECT_GT(lines, 3u);
}

// hooks_add_process: hpana_put's entry, reached 3 times by `hpana strings
// 3`, hooked in every process, in process "hpana" and in process "sh".
TEST_F(StringsAndCoverage, HooksInANamedProcessRunOnlyThere) {
    ASSERT_EQ(run_->exit_status, debug_exit_status(0)) << describe(*run_);
    EXPECT_EQ(read_file(dir_->file("procprobe")), "hits 3 3 0\n");
}

// hpana.c's lines in hpana_branches with their "cov: ran" / "cov: never"
// marks: the model of what `hpana branches 7` runs.
std::map<int, bool> coverage_marks() {
    std::ifstream source(HPANA_SOURCE);
    std::map<int, bool> marks;
    std::string line;
    for (int number = 1; std::getline(source, line); number++) {
        if (line.find("/* cov: ran */") != std::string::npos) {
            marks[number] = true;
        } else if (line.find("/* cov: never */") != std::string::npos) {
            marks[number] = false;
        }
    }
    return marks;
}

// coverage's lcov tracefile, read through the program's DWARF: in
// hpana_branches, the lines with code are exactly the marked ones, those
// that ran are exactly the "ran" ones, and the counts are the source's for
// N = 7 (the loop body 7 times, odd++ for i = 1, 3, 5). genhtml (Debian's
// lcov) renders it.
TEST_F(StringsAndCoverage, CoverageLcovListsExactlyTheLinesThatRan) {
    ASSERT_EQ(run_->exit_status, debug_exit_status(0)) << describe(*run_);
    EXPECT_EQ(only_line(run_->out, "HPANA branches "), "HPANA branches 7 3000");
    const auto marks = coverage_marks();
    ASSERT_EQ(marks.size(), 11u) << "hpana.c's cov marks";
    const int first = marks.begin()->first, last = marks.rbegin()->first;

    std::istringstream lcov(read_file(dir_->file("lcov")));
    std::string line, file;
    std::map<int, uint64_t> da;
    while (std::getline(lcov, line)) {
        if (line.rfind("SF:", 0) == 0) {
            file = line.substr(3);
        } else if (line.rfind("DA:", 0) == 0 && file == HPANA_SOURCE) {
            const size_t comma = line.find(',');
            const int number = std::stoi(line.substr(3, comma - 3));
            if (number >= first && number <= last) {
                da[number] = std::stoull(line.substr(comma + 1));
            }
        }
    }
    std::set<int> listed, ran, marked, marked_ran;
    for (const auto& [number, count] : da) {
        listed.insert(number);
        if (count > 0) {
            ran.insert(number);
        }
    }
    for (const auto& [number, runs] : marks) {
        marked.insert(number);
        if (runs) {
            marked_ran.insert(number);
        }
    }
    EXPECT_EQ(listed, marked) << read_file(dir_->file("lcov"));
    EXPECT_EQ(ran, marked_ran);
    // Counts: the function's entry, declarations, the loop's initialisation
    // (the first instruction of the for line), the test after the loop, the
    // return and the epilogue once; both ifs in the loop 7 times; odd++ 3.
    std::vector<uint64_t> counts;
    for (const auto& [number, runs] : marks) {
        counts.push_back(da[number]);
    }
    EXPECT_EQ(counts, (std::vector<uint64_t>{1, 1, 1, 7, 3, 7, 0, 1, 0, 1, 1})) << read_file(dir_->file("lcov"));

    const auto html = run({"genhtml", "-q", "-o", dir_->file("html"), dir_->file("lcov")}, std::chrono::seconds(120));
    EXPECT_EQ(html.exit_status, 0) << html.err;
    EXPECT_TRUE(std::ifstream(dir_->file("html") + "/index.html").good()) << html.out << html.err;
}

// The drcov file: header and module table as drcov writes them, /bin/hpana
// at its ELF's lowest load address (readelf), every block inside it, and
// the block at hpana_branches' entry among them.
TEST_F(StringsAndCoverage, CoverageDrcovHasHpanasBlocks) {
    ASSERT_EQ(run_->exit_status, debug_exit_status(0)) << describe(*run_);
    const std::string drcov = read_file(dir_->file("drcov"));
    std::istringstream in(drcov);
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_EQ(line, "DRCOV VERSION: 2");
    std::getline(in, line);  // flavor
    ASSERT_TRUE(std::getline(in, line));
    ASSERT_EQ(line, "Module Table: version 2, count 1") << drcov.substr(0, 400);
    std::getline(in, line);  // columns
    ASSERT_TRUE(std::getline(in, line));
    std::istringstream module(line);
    std::string id, base, end, entry, checksum, timestamp, path;
    module >> id >> base >> end >> entry >> checksum >> timestamp >> path;
    EXPECT_EQ(path, "/bin/hpana");
    const auto segments = run({"readelf", "-lW", guest_dir() + "/hpana"}, std::chrono::seconds(60));
    uint64_t lowest = UINT64_MAX;
    std::istringstream program_headers(segments.out);
    while (std::getline(program_headers, line)) {
        std::istringstream f(line);
        std::string type, offset, vaddr;
        if (f >> type >> offset >> vaddr && type == "LOAD") {
            lowest = std::min<uint64_t>(lowest, std::stoull(vaddr, nullptr, 16) & ~uint64_t(0xfff));
        }
    }
    ASSERT_NE(lowest, UINT64_MAX) << segments.out;
    EXPECT_EQ(std::stoull(base, nullptr, 16), lowest) << line;  // "0x...," (stoull stops at the comma)
    ASSERT_TRUE(std::getline(in, line));
    size_t bbs = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "BB Table: %zu bbs", &bbs), 1) << line;
    const size_t table = static_cast<size_t>(in.tellg());
    ASSERT_EQ(drcov.size(), table + 8 * bbs);
    const uint64_t module_size = std::stoull(end, nullptr, 16) - lowest;
    bool entry_block = false;
    const uint64_t branches = hpana_symbols()["hpana_branches"].address - lowest;
    for (size_t i = 0; i < bbs; i++) {
        uint32_t start;
        uint16_t size, mod;
        std::memcpy(&start, drcov.data() + table + 8 * i, 4);
        std::memcpy(&size, drcov.data() + table + 8 * i + 4, 2);
        std::memcpy(&mod, drcov.data() + table + 8 * i + 6, 2);
        EXPECT_EQ(mod, 0);
        EXPECT_LE(start + size, module_size);
        entry_block = entry_block || start == branches;
    }
    EXPECT_TRUE(entry_block);
}

}  // namespace
