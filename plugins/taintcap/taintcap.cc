// taintcap (named in PANDA's plugin list; docs/taint.md): per tap point —
// a guest instruction's PC, the return address of the function it runs in
// (callstack_instr), the address space, and whether it loads or stores —
// the tainted bytes that flow through it, in the order they do: each
// byte's value and labels.
//
//   -panda taint2 -panda callstack_instr -panda taintcap[:out=FILE][,max=N]
//     out      the report (default: stdout), written at the end
//     max      bytes kept per tap point (default 65536); past it a tap point
//              counts the bytes it drops
//
// One line per tap point, in the order each first saw a tainted byte:
//   TAINTCAP caller=0x… pc=0x… asid=0x… kind=load|store bytes=N data=<hex>
//            labels=<each byte's labels, comma-separated; bytes by ';'>
//            [dropped=M]
// A byte is captured when its copy in guest RAM is tainted: after a store
// the byte stored, after a load the byte read. (A value tainted only by
// the address it was loaded through — a table lookup with a tainted index
// — is not a tainted byte of memory: tainted_instr and on_ptr_load report
// those.)
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <panda/plugin.h>
#include <panda/plugin_plugin.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "callstack_instr/callstack_instr.h"
#include "taint2/report.h"
#include "taint2/taint2.h"

namespace {

FILE* out;
uint64_t max_bytes;
decltype(&get_callers) callers;
decltype(&taint2_query_set_ram) query_set;

struct Tap {
    uint64_t order = 0;  // when it first captured a byte
    std::string data;    // hex
    std::string labels;  // "l,l;l;..."
    uint64_t bytes = 0, dropped = 0;
};
// (caller, pc, asid, is_store)
using TapKey = std::tuple<uint64_t, uint64_t, uint64_t, bool>;
std::map<TapKey, Tap> taps;

void capture(CPUState* cpu, target_ulong pc, target_ulong addr, uint64_t size, bool is_store) {
    target_ulong caller = 0;
    if (callers(&caller, 1, cpu) != 1) {
        caller = 0;
    }
    Tap* tap = nullptr;
    for (uint64_t k = 0; k < size; k++) {
        const target_ulong pa = panda_virt_to_phys(cpu, addr + k);
        uint8_t value = 0;
        if (pa == static_cast<target_ulong>(-1) ||
            panda_virtual_memory_rw(cpu, addr + k, &value, 1, 0) != 0) {
            continue;
        }
        TaintLabel labels[64];
        const uint32_t n = query_set(pa, labels, 64);
        if (n == 0) {
            continue;
        }
        if (tap == nullptr) {
            auto [it, added] =
                taps.try_emplace(TapKey{caller, pc, panda_current_asid(cpu), is_store}, Tap{});
            if (added) {
                it->second.order = taps.size();
            }
            tap = &it->second;
        }
        if (tap->bytes >= max_bytes) {
            tap->dropped++;
            continue;
        }
        char hex[3];
        snprintf(hex, sizeof hex, "%02x", value);
        tap->data += hex;
        if (tap->bytes > 0) {
            tap->labels += ';';
        }
        for (uint32_t i = 0; i < n && i < 64; i++) {
            tap->labels += (i == 0 ? "" : ",") + std::to_string(labels[i]);
        }
        if (n > 64) {
            tap->labels += ",...";
        }
        tap->bytes++;
    }
}

void on_load(CPUState* cpu, target_ulong pc, target_ulong addr, uint64_t size,
             const TaintLabel* labels, uint32_t n_labels, uint32_t tcn) {
    (void)labels, (void)n_labels, (void)tcn;
    capture(cpu, pc, addr, size, false);
}

void on_store(CPUState* cpu, target_ulong pc, target_ulong addr, uint64_t size,
              const TaintLabel* labels, uint32_t n_labels, uint32_t tcn) {
    (void)labels, (void)n_labels, (void)tcn;
    capture(cpu, pc, addr, size, true);
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    (void)self;
    panda_arg_list* args = panda_get_args("taintcap");
    const std::string path =
        panda_parse_string_opt(args, "out", "", "file for the report (stdout)");
    max_bytes = panda_parse_uint64_opt(args, "max", 65536, "bytes kept per tap point");
    panda_free_args(args);
    if (max_bytes == 0) {
        fprintf(stderr, "taintcap: max=0: a tap point must keep at least one byte\n");
        return false;
    }
    out = hypanda::taint_report::open("taintcap", path);
    if (out == nullptr) {
        return false;
    }
    if (panda_require("taint2") == nullptr || panda_require("callstack_instr") == nullptr) {
        return false;
    }
    callers = PANDA_IMPORT("callstack_instr", get_callers);
    query_set = PANDA_IMPORT("taint2", taint2_query_set_ram);
    PPP_REG_CB("taint2", on_after_load, on_load);
    PPP_REG_CB("taint2", on_after_store, on_store);
    return true;
}

extern "C" void uninit_plugin(void* self) {
    (void)self;
    std::vector<std::pair<uint64_t, const std::pair<const TapKey, Tap>*>> ordered;
    for (const auto& entry : taps) {
        ordered.emplace_back(entry.second.order, &entry);
    }
    std::sort(ordered.begin(), ordered.end());
    for (const auto& [order, entry] : ordered) {
        (void)order;
        const auto& [key, tap] = *entry;
        fprintf(out,
                "TAINTCAP caller=%#" PRIx64 " pc=%#" PRIx64 " asid=%#" PRIx64
                " kind=%s bytes=%" PRIu64 " data=%s labels=%s",
                std::get<0>(key), std::get<1>(key), std::get<2>(key),
                std::get<3>(key) ? "store" : "load", tap.bytes, tap.data.c_str(),
                tap.labels.c_str());
        if (tap.dropped > 0) {
            fprintf(out, " dropped=%" PRIu64, tap.dropped);
        }
        fputc('\n', out);
    }
    hypanda::taint_report::close(out);
    taps.clear();
}
