// What the taint consumers (tainted_branch, tainted_instr, taintcap) share
// for their reports: the out= file, labels written as a list, summaries.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "taint2/taint2.h"

namespace hypanda::taint_report {

// The report: `path`, made anew, or standard output when empty; on failure
// one line "PLUGIN: out=PATH: reason" and nullptr.
inline FILE* open(const char* plugin, const std::string& path) {
    if (path.empty()) {
        return stdout;
    }
    FILE* f = fopen(path.c_str(), "we");
    if (f == nullptr) {
        fprintf(stderr, "%s: out=%s: %s\n", plugin, path.c_str(), strerror(errno));
    }
    return f;
}

// Flushed, closed unless standard output, and forgotten.
inline void close(FILE*& f) {
    if (f != nullptr) {
        fflush(f);
        if (f != stdout) {
            fclose(f);
        }
    }
    f = nullptr;
}

// "0,3,7".
inline std::string joined(const TaintLabel* labels, size_t n) {
    std::string s;
    for (size_t k = 0; k < n; k++) {
        s += (k == 0 ? "" : ",") + std::to_string(labels[k]);
    }
    return s;
}

// summary=on: per instruction (PC and a kind) how often it was reported
// and the union of its labels, written at the end in PC order.
template <typename Kind>
class Summary {
public:
    void add(uint64_t pc, Kind kind, const TaintLabel* labels, uint32_t n) {
        Seen& s = seen_[{pc, kind}];
        s.count++;
        s.labels.insert(labels, labels + n);
    }
    // One line each: "PREFIX pc=0x… kind=NAME count=N labels=…", or the
    // same fields as a JSON object.
    template <typename KindName>
    void write(FILE* out, bool json, const char* prefix, KindName kind_name) const {
        for (const auto& [key, s] : seen_) {
            const std::vector<TaintLabel> labels(s.labels.begin(), s.labels.end());
            if (json) {
                nlohmann::json line = {{"pc", key.first},
                                       {"kind", kind_name(key.second)},
                                       {"count", s.count},
                                       {"labels", labels}};
                fprintf(out, "%s\n", line.dump().c_str());
            } else {
                fprintf(out, "%s pc=%#llx kind=%s count=%llu labels=%s\n", prefix,
                        static_cast<unsigned long long>(key.first), kind_name(key.second),
                        static_cast<unsigned long long>(s.count),
                        joined(labels.data(), labels.size()).c_str());
            }
        }
    }

private:
    struct Seen {
        uint64_t count = 0;
        std::set<TaintLabel> labels;
    };
    std::map<std::pair<uint64_t, Kind>, Seen> seen_;
};

}  // namespace hypanda::taint_report
