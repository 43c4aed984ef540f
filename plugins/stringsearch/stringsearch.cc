// The stringsearch plugin: finds where in the guest's code given strings
// pass through memory. Every byte read or written by an instruction is fed
// to a matcher kept per tap point (the caller from callstack_instr, the
// instruction's PC, the address space) and per direction; a string whose
// bytes arrive in order at one tap point counts one match there. At unload
// the tap points with matches are written, one line each, as PANDA writes
// them: "caller pc asid count0 count1 ..." (addresses in hex, one count per
// search string, in the order given).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "stringsearch.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "callstack_instr/callstack_instr.h"

PPP_CB_BOILERPLATE(on_ssm)

namespace {

// One search string with its KMP failure table: after a mismatch at
// position j, matching resumes at fail[j - 1] (the longest proper prefix
// of the matched part that is also its suffix), so overlapping occurrences
// ("aab" in "aaab") are found.
struct Needle {
    std::vector<uint8_t> bytes;
    std::vector<uint32_t> fail;
};

struct TapPoint {
    target_ulong caller, pc, asid;
    bool operator<(const TapPoint& o) const {
        return std::tie(caller, pc, asid) < std::tie(o.caller, o.pc, o.asid);
    }
    bool operator==(const TapPoint& o) const { return caller == o.caller && pc == o.pc && asid == o.asid; }
};

struct TapHash {
    size_t operator()(const TapPoint& t) const {
        return std::hash<uint64_t>()((t.pc * 0x9e3779b97f4a7c15ull) ^ (t.caller * 31) ^ t.asid);
    }
};

struct TapState {
    std::vector<uint32_t> read_matched, write_matched;  // bytes matched so far, per needle
    std::vector<uint64_t> counts;                       // matches, per needle
};

std::vector<Needle> needles;
std::string output_path;
std::mutex mutex;  // vCPU threads
std::unordered_map<TapPoint, TapState, TapHash> taps;
// Fast rejection without a lock, so most accesses cost a few compares: the
// first bytes of the needles, and a table of flags by hashed PC, set when a
// tap point at that PC has a match in progress (a superset: flags stay set
// after matches end, until a hybrid window opens, and PCs share flags).
bool first_byte[256];
constexpr size_t kPcFlags = size_t(1) << 16;
std::atomic<bool> pc_in_progress[kPcFlags];

size_t pc_flag(target_ulong pc) { return (pc ^ (pc >> 16) ^ (pc >> 32)) & (kPcFlags - 1); }

void clear_pc_flags() {
    for (auto& f : pc_in_progress) {
        f.store(false, std::memory_order_relaxed);
    }
}
int (*callers_of)(target_ulong*, int, CPUState*);

Needle make_needle(std::vector<uint8_t> bytes) {
    Needle n{std::move(bytes), {}};
    n.fail.assign(n.bytes.size(), 0);
    for (size_t i = 1, k = 0; i < n.bytes.size(); i++) {
        while (k > 0 && n.bytes[i] != n.bytes[k]) {
            k = n.fail[k - 1];
        }
        if (n.bytes[i] == n.bytes[k]) {
            k++;
        }
        n.fail[i] = static_cast<uint32_t>(k);
    }
    return n;
}

// One line of a search-strings file: "text in quotes" or hex bytes
// separated by colons (de:ad:be:ef). Empty on an error, with `why` set.
std::optional<std::vector<uint8_t>> parse_needle(const std::string& line, std::string* why) {
    if (line.size() >= 2 && line.front() == '"' && line.back() == '"') {
        if (line.size() == 2) {
            *why = "an empty string";
            return std::nullopt;
        }
        return std::vector<uint8_t>(line.begin() + 1, line.end() - 1);
    }
    std::vector<uint8_t> bytes;
    size_t i = 0;
    while (i < line.size()) {
        size_t end = line.find(':', i);
        const std::string part = line.substr(i, end == std::string::npos ? std::string::npos : end - i);
        char* stop = nullptr;
        const unsigned long v = std::strtoul(part.c_str(), &stop, 16);
        if (part.empty() || part.size() > 2 || *stop != '\0' || v > 0xff) {
            *why = "'" + part + "' is not a hex byte (expected \"text\" or bytes like de:ad:be:ef)";
            return std::nullopt;
        }
        bytes.push_back(static_cast<uint8_t>(v));
        if (end == std::string::npos) {
            break;
        }
        i = end + 1;
        if (i == line.size()) {
            *why = "a trailing ':'";
            return std::nullopt;
        }
    }
    return bytes;
}

bool read_needles(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        std::fprintf(stderr, "plugin 'stringsearch': cannot read %s: %s\n", path.c_str(), std::strerror(errno));
        return false;
    }
    std::string line;
    for (int number = 1; std::getline(in, line); number++) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
            line.pop_back();
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::string why;
        auto bytes = parse_needle(line, &why);
        if (!bytes) {
            std::fprintf(stderr, "plugin 'stringsearch': %s:%d: %s\n", path.c_str(), number, why.c_str());
            return false;
        }
        needles.push_back(make_needle(std::move(*bytes)));
    }
    return true;
}

void feed(CPUState* cpu, target_ulong pc, target_ulong addr, target_ulong size, const void* buf, bool is_write) {
    const auto* bytes = static_cast<const uint8_t*>(buf);
    bool maybe = false;
    for (target_ulong i = 0; i < size && !maybe; i++) {
        maybe = first_byte[bytes[i]];
    }
    if (!maybe && !pc_in_progress[pc_flag(pc)].load(std::memory_order_relaxed)) {
        return;
    }
    target_ulong caller = 0;
    if (callers_of(&caller, 1, cpu) != 1) {
        caller = 0;
    }
    const TapPoint tap{caller, pc, panda_current_asid(cpu)};
    const auto* data = static_cast<const uint8_t*>(buf);
    std::vector<size_t> found;  // (needle) per completed match, reported outside the lock
    std::vector<target_ulong> found_at;
    {
        std::lock_guard<std::mutex> lock(mutex);
        TapState& state = taps[tap];
        if (state.counts.empty()) {
            state.read_matched.assign(needles.size(), 0);
            state.write_matched.assign(needles.size(), 0);
            state.counts.assign(needles.size(), 0);
        }
        std::vector<uint32_t>& matched = is_write ? state.write_matched : state.read_matched;
        for (size_t n = 0; n < needles.size(); n++) {
            const Needle& needle = needles[n];
            uint32_t k = matched[n];
            for (target_ulong i = 0; i < size; i++) {
                while (k > 0 && data[i] != needle.bytes[k]) {
                    k = needle.fail[k - 1];
                }
                if (data[i] == needle.bytes[k]) {
                    k++;
                }
                if (k == needle.bytes.size()) {
                    state.counts[n]++;
                    found.push_back(n);
                    found_at.push_back(addr + i);
                    k = needle.fail[k - 1];
                }
            }
            matched[n] = k;
            if (k != 0) {
                pc_in_progress[pc_flag(pc)].store(true, std::memory_order_relaxed);
            }
        }
    }
    for (size_t f = 0; f < found.size(); f++) {
        Needle& needle = needles[found[f]];
        PPP_RUN_CB(on_ssm, cpu, pc, found_at[f], needle.bytes.data(), static_cast<uint32_t>(needle.bytes.size()),
                   is_write, true);
    }
}

int mem_read(CPUState* cpu, target_ulong pc, target_ulong addr, target_ulong size, void* buf) {
    feed(cpu, pc, addr, size, buf, false);
    return 0;
}

int mem_write(CPUState* cpu, target_ulong pc, target_ulong addr, target_ulong size, void* buf) {
    feed(cpu, pc, addr, size, buf, true);
    return 0;
}

// A hybrid window opens: what KVM ran in between was not seen, so partial
// matches are dropped (counts stay).
int engine_changed(CPUState*, int) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& [tap, state] : taps) {
        state.read_matched.assign(needles.size(), 0);
        state.write_matched.assign(needles.size(), 0);
    }
    clear_pc_flags();
    return 0;
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    panda_arg_list* args = panda_get_args("stringsearch");
    const std::string str = panda_parse_string_opt(args, "str", "", "a string to search for");
    const std::string name = panda_parse_string_opt(
        args, "name", "stringsearch", "reads NAME_search_strings.txt (without str=), writes NAME_string_matches.txt");
    output_path = panda_parse_string_opt(args, "output", "", "where to write the matches (default NAME_string_matches.txt)");
    panda_free_args(args);
    needles.clear();
    taps.clear();
    if (!str.empty()) {
        needles.push_back(make_needle(std::vector<uint8_t>(str.begin(), str.end())));
    } else if (!read_needles(name + "_search_strings.txt")) {
        return false;
    }
    if (needles.empty()) {
        std::fprintf(stderr, "plugin 'stringsearch': nothing to search for: %s_search_strings.txt lists no string\n",
                     name.c_str());
        return false;
    }
    if (output_path.empty()) {
        output_path = name + "_string_matches.txt";
    }
    std::fill(std::begin(first_byte), std::end(first_byte), false);
    for (const Needle& n : needles) {
        first_byte[n.bytes[0]] = true;
    }
    clear_pc_flags();
    FILE* probe = std::fopen(output_path.c_str(), "w");  // fail now, not after the run
    if (probe == nullptr) {
        std::fprintf(stderr, "plugin 'stringsearch': cannot write %s: %s\n", output_path.c_str(),
                     std::strerror(errno));
        return false;
    }
    std::fclose(probe);
    if (panda_require("callstack_instr") == nullptr) {
        return false;
    }
    callers_of = PANDA_IMPORT("callstack_instr", get_callers);

    panda_cb cb;
    cb.virt_mem_read = mem_read;
    panda_register_callback(self, PANDA_CB_VIRT_MEM_READ, cb);
    cb.virt_mem_write = mem_write;
    panda_register_callback(self, PANDA_CB_VIRT_MEM_WRITE, cb);
    cb.engine_changed = engine_changed;
    panda_register_callback(self, PANDA_CB_ENGINE_CHANGED, cb);
    panda_enable_memcb();
    return true;
}

extern "C" void uninit_plugin(void*) {
    panda_disable_memcb();
    FILE* out = std::fopen(output_path.c_str(), "w");
    if (out == nullptr) {
        std::fprintf(stderr, "plugin 'stringsearch': cannot write %s: %s\n", output_path.c_str(),
                     std::strerror(errno));
    } else {
        std::lock_guard<std::mutex> lock(mutex);
        const std::map<TapPoint, TapState> sorted(taps.begin(), taps.end());
        for (const auto& [tap, state] : sorted) {
            bool any = false;
            for (uint64_t c : state.counts) {
                any = any || c != 0;
            }
            if (!any) {
                continue;
            }
            std::fprintf(out, "%016" PRIx64 " %016" PRIx64 " %016" PRIx64, static_cast<uint64_t>(tap.caller),
                         static_cast<uint64_t>(tap.pc), static_cast<uint64_t>(tap.asid));
            for (uint64_t c : state.counts) {
                std::fprintf(out, " %" PRIu64, c);
            }
            std::fputc('\n', out);
        }
        std::fclose(out);
    }
    taps.clear();
    needles.clear();
    clear_pc_flags();
}
