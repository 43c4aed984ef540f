// tainted_instr (PANDA's plugin of that name, docs/taint.md): every guest
// instruction that touches tainted data — a load whose loaded bytes, or a
// store whose stored bytes, carry taint (taint2's on_after_load and
// on_after_store), or a branch or jump on tainted data (on_branch).
//
//   -panda taint2 -panda tainted_instr[:out=FILE][,json=on][,summary=on]
//     out      the report (default: stdout)
//     json     one JSON object a line instead of text
//     summary  one line per instruction and kind at the end, in PC order,
//              with how often it touched taint and the union of the labels
//
// Text:  TAINTED_INSTR pc=0x401a2c kind=load asid=0x1000 addr=0x7ffc10 size=1 labels=0,3 tcn=2
//        (kind load, store, branch or jump; a branch or jump has no addr
//        or size; summary: pc, kind, count=N and labels)
// JSON:  {"pc":4201004,"kind":"load","asid":4096,"addr":8387600,"size":1,"labels":[0,3],"tcn":2}
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
#include <vector>

#include "taint2/report.h"
#include "taint2/taint2.h"

namespace {

enum Kind { kLoad, kStore, kBranch, kJump };
const char* const kKindNames[] = {"load", "store", "branch", "jump"};

FILE* out;
bool json;
bool summary;

hypanda::taint_report::Summary<Kind> seen;

// One instruction's touch: an access (size > 0) or a branch (size 0).
void report(CPUState* cpu, target_ulong pc, Kind kind, target_ulong addr, uint64_t size,
            const TaintLabel* labels, uint32_t n_labels, uint32_t tcn) {
    if (summary) {
        seen.add(pc, kind, labels, n_labels);
        return;
    }
    const uint64_t asid = panda_current_asid(cpu);
    const bool access = kind == kLoad || kind == kStore;
    if (json) {
        nlohmann::json line = {{"pc", pc}, {"kind", kKindNames[kind]}, {"asid", asid}};
        if (access) {
            line["addr"] = addr;
            line["size"] = size;
        }
        line["labels"] = std::vector<TaintLabel>(labels, labels + n_labels);
        line["tcn"] = tcn;
        fprintf(out, "%s\n", line.dump().c_str());
        return;
    }
    fprintf(out, "TAINTED_INSTR pc=%#" PRIx64 " kind=%s asid=%#" PRIx64, static_cast<uint64_t>(pc),
            kKindNames[kind], asid);
    if (access) {
        fprintf(out, " addr=%#" PRIx64 " size=%" PRIu64, static_cast<uint64_t>(addr), size);
    }
    fprintf(out, " labels=%s tcn=%u\n", hypanda::taint_report::joined(labels, n_labels).c_str(),
            tcn);
}

void on_load(CPUState* cpu, target_ulong pc, target_ulong addr, uint64_t size,
             const TaintLabel* labels, uint32_t n_labels, uint32_t tcn) {
    report(cpu, pc, kLoad, addr, size, labels, n_labels, tcn);
}

void on_store(CPUState* cpu, target_ulong pc, target_ulong addr, uint64_t size,
              const TaintLabel* labels, uint32_t n_labels, uint32_t tcn) {
    report(cpu, pc, kStore, addr, size, labels, n_labels, tcn);
}

void on_branch(CPUState* cpu, target_ulong pc, bool indirect, const TaintLabel* labels,
               uint32_t n_labels, uint32_t tcn) {
    report(cpu, pc, indirect ? kJump : kBranch, 0, 0, labels, n_labels, tcn);
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    (void)self;
    panda_arg_list* args = panda_get_args("tainted_instr");
    const std::string path =
        panda_parse_string_opt(args, "out", "", "file for the report (stdout)");
    json = panda_parse_bool_opt(args, "json", "one JSON object a line");
    summary = panda_parse_bool_opt(args, "summary", "one line per instruction, at the end");
    panda_free_args(args);
    out = hypanda::taint_report::open("tainted_instr", path);
    if (out == nullptr) {
        return false;
    }
    if (panda_require("taint2") == nullptr) {
        return false;
    }
    PPP_REG_CB("taint2", on_after_load, on_load);
    PPP_REG_CB("taint2", on_after_store, on_store);
    PPP_REG_CB("taint2", on_branch, on_branch);
    return true;
}

extern "C" void uninit_plugin(void* self) {
    (void)self;
    if (summary) {
        seen.write(out, json, "TAINTED_INSTR", [](Kind k) { return kKindNames[k]; });
    }
    hypanda::taint_report::close(out);
    seen = {};
}
