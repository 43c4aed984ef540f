// tainted_branch (PANDA's plugin of that name, docs/taint.md): every guest
// conditional branch whose condition, and every indirect jump whose target,
// is tainted, as taint2's on_branch reports it.
//
//   -panda taint2 -panda tainted_branch[:out=FILE][,json=on][,summary=on][,process=on]
//     out      the report (default: stdout)
//     json     one JSON object a line instead of text
//     summary  one line per branch (PC and kind) at the end, with how often
//              it ran tainted and the union of its labels, in PC order,
//              instead of a line each time
//     process  the process (name and pid, from osi) of each branch
//
// Text:  TAINTED_BRANCH pc=0x401a2c kind=conditional asid=0x1000 labels=0,3 tcn=2 [process=name
// pid=N]
//        (summary: ... kind=conditional count=N labels=... with no asid or tcn)
// JSON:  {"pc":4201004,"kind":"conditional","asid":4096,"labels":[0,3],"tcn":2}
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <panda/plugin.h>
#include <panda/plugin_plugin.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "osi/osi.h"
#include "taint2/report.h"
#include "taint2/taint2.h"

namespace {

FILE* out;
bool json;
bool summary;
decltype(&get_current_process) current_process;
decltype(&free_osiproc) free_process;

hypanda::taint_report::Summary<bool> seen;

const char* kind_name(bool indirect) {
    return indirect ? "indirect" : "conditional";
}

void report_branch(CPUState* cpu, target_ulong pc, bool indirect, const TaintLabel* labels,
                   uint32_t n_labels, uint32_t tcn) {
    if (summary) {
        seen.add(pc, indirect, labels, n_labels);
        return;
    }
    const uint64_t asid = panda_current_asid(cpu);
    std::string name;
    long pid = -1;
    if (current_process != nullptr) {
        if (OsiProc* p = current_process(cpu)) {
            name = p->name != nullptr ? p->name : "";
            pid = p->pid;
            free_process(p);
        }
    }
    if (json) {
        nlohmann::json line = {{"pc", pc},
                               {"kind", kind_name(indirect)},
                               {"asid", asid},
                               {"labels", std::vector<TaintLabel>(labels, labels + n_labels)},
                               {"tcn", tcn}};
        if (current_process != nullptr) {
            line["process"] = name;
            line["pid"] = pid;
        }
        fprintf(out, "%s\n", line.dump().c_str());
        return;
    }
    fprintf(out, "TAINTED_BRANCH pc=%#" PRIx64 " kind=%s asid=%#" PRIx64 " labels=%s tcn=%u",
            static_cast<uint64_t>(pc), kind_name(indirect), asid,
            hypanda::taint_report::joined(labels, n_labels).c_str(), tcn);
    if (current_process != nullptr) {
        fprintf(out, " process=%s pid=%ld", name.c_str(), pid);
    }
    fputc('\n', out);
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    (void)self;
    panda_arg_list* args = panda_get_args("tainted_branch");
    const std::string path =
        panda_parse_string_opt(args, "out", "", "file for the report (stdout)");
    json = panda_parse_bool_opt(args, "json", "one JSON object a line");
    summary = panda_parse_bool_opt(args, "summary", "one line per branch, at the end");
    const bool process = panda_parse_bool_opt(args, "process", "name each branch's process (osi)");
    panda_free_args(args);
    out = hypanda::taint_report::open("tainted_branch", path);
    if (out == nullptr) {
        return false;
    }
    if (panda_require("taint2") == nullptr) {
        return false;
    }
    if (process) {
        if (panda_require("osi") == nullptr) {
            return false;
        }
        current_process = PANDA_IMPORT("osi", get_current_process);
        free_process = PANDA_IMPORT("osi", free_osiproc);
    }
    PPP_REG_CB("taint2", on_branch, report_branch);
    return true;
}

extern "C" void uninit_plugin(void* self) {
    (void)self;
    if (summary) {
        seen.write(out, json, "TAINTED_BRANCH", kind_name);
    }
    hypanda::taint_report::close(out);
    seen = {};
}
