// The taint2 plugin (docs/taint.md) on the test guest's taintflow workload
// (tests/guest/taintflow.S), whose data flow the source gives: every byte
// queried must carry exactly the labels of the bytes it came from.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "elf_image.h"
#include "expected.h"
#include "model.h"
#include "run.h"

namespace hypanda::test {
namespace {

constexpr std::chrono::seconds kLimit{300};

struct Answer {
    uint64_t address = 0;
    std::string labels;  // "clean" or comma-separated
    unsigned tcn = 0;
};

// "TAINT <address> <labels> tcn <n>" or "TAINT <address> clean".
std::vector<Answer> read_answers(const std::string& text) {
    std::vector<Answer> answers;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        Answer a;
        char labels[512] = {};
        if (std::sscanf(line.c_str(), "TAINT %" SCNx64 " %511s tcn %u", &a.address, labels,
                        &a.tcn) >= 2) {
            a.labels = labels;
            answers.push_back(a);
        }
    }
    return answers;
}

// taintflow 16 (model.h): src[k] labelled k; dst = src by REP MOVSB;
// out[k] = dst[k] ^ 0x5a; out[0] = dst[0] + dst[15]; out[1] = dst[1] *
// dst[3]. So dst[k] carries {k} as a pure copy (compute number 0), out[k]
// {k}, out[0] {0, 15} and out[1] {1, 3}, each computed by one guest
// instruction (XOR, ADD, MUL) from copies: compute number 1.
// ... then sse[k] = dst[k] by MOVDQU (copies: {k}, 0), and 0x77 stored at
// ptrs[dst[3] & 7]: that byte {3}, number 2 (the AND, then the store's
// address arithmetic; the constant stored is clean, so the address is all
// it carries), the table's other bytes clean.
// ... then DIV r/m8 with AX = dst[4] (MOVZBL: AH a clean zero) and the
// divisor dst[5], quotient and remainder stored to div[0..1]. QEMU divides
// in a helper (helper_divb_AL), which reads AX from the CPU state and
// writes AL and AH back. With the helpers in the JIT (taint2's default)
// the pass follows that: both bytes {4, 5}, computed by one instruction
// (1). With no_helpers=on the helper runs native and its writes are not
// seen: AL keeps what MOVZBL gave it ({4}, a copy: 0) and AH stays clean —
// the difference the issue asks the test to show.
enum class Helpers { kInJit, kNative };
void expect_taintflow_answers(const std::string& text, uint64_t n,
                              Helpers helpers = Helpers::kInJit) {
    const std::vector<Answer> answers = read_answers(text);
    ASSERT_EQ(answers.size(), 2 * n + 16 + 8 + 2) << text;
    const Answer& quotient = answers[2 * n + 24];
    const Answer& remainder = answers[2 * n + 25];
    EXPECT_EQ(quotient.address, answers[2 * n + 16].address + 8);
    EXPECT_EQ(remainder.address, quotient.address + 1);
    if (helpers == Helpers::kInJit) {
        EXPECT_EQ(quotient.labels, "4,5");
        EXPECT_EQ(quotient.tcn, 1u);
        EXPECT_EQ(remainder.labels, "4,5");
        EXPECT_EQ(remainder.tcn, 1u);
    } else {
        EXPECT_EQ(quotient.labels, "4");
        EXPECT_EQ(quotient.tcn, 0u);
        EXPECT_EQ(remainder.labels, "clean");
    }
    for (uint64_t k = 0; k < 16; k++) {
        const Answer& sse = answers[2 * n + k];
        EXPECT_EQ(sse.address, answers[2 * n].address + k);
        EXPECT_EQ(sse.labels, std::to_string(k)) << "sse[" << k << "]";
        EXPECT_EQ(sse.tcn, 0u) << "sse[" << k << "] is a copy";
    }
    const uint64_t marked = hp_taintflow_input(3) & 7;
    for (uint64_t k = 0; k < 8; k++) {
        const Answer& ptrs = answers[2 * n + 16 + k];
        EXPECT_EQ(ptrs.address, answers[2 * n + 16].address + k);
        EXPECT_EQ(ptrs.labels, k == marked ? "3" : "clean") << "ptrs[" << k << "]";
        EXPECT_EQ(ptrs.tcn, k == marked ? 2u : 0u) << "ptrs[" << k << "]";
    }
    for (uint64_t k = 0; k < n; k++) {
        const Answer& dst = answers[k];
        const Answer& out = answers[n + k];
        EXPECT_EQ(dst.address, answers[0].address + k);
        EXPECT_EQ(out.address, answers[n].address + k);
        EXPECT_EQ(dst.labels, std::to_string(k)) << "dst[" << k << "]";
        EXPECT_EQ(dst.tcn, 0u) << "dst[" << k << "] is a copy";
        EXPECT_EQ(out.labels, k == 0   ? std::string("0,15")
                              : k == 1 ? "1,3"
                                       : std::to_string(k))
            << "out[" << k << "]";
        EXPECT_EQ(out.tcn, 1u) << "out[" << k << "] is computed once";
    }
}

TEST(Taint2, TaintflowBytesCarryExactlyTheLabelsOfTheirSources) {
    const uint64_t n = 16;
    TempDir dir;
    Child child(guest_args("taintflow 16", {"-cpu", "qemu64,vendor=GenuineIntel", "-panda",
                                            "taint2:out=" + dir.file("taint")}),
                {});
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("taintflow", hp_taintflow_value(n))});
    expect_taintflow_answers(read_file(dir.file("taint")), n);
}

// The same run with QEMU's helpers native (no_helpers=on): everything the
// same but the division (above).
TEST(Taint2, DivisionIsFollowedThroughItsHelperOnlyWithHelpersInTheJit) {
    TempDir dir;
    Child child(guest_args("taintflow 16", {"-cpu", "qemu64,vendor=GenuineIntel", "-panda",
                                            "taint2:no_helpers=on,out=" + dir.file("taint")}),
                {});
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("taintflow", hp_taintflow_value(16))});
    expect_taintflow_answers(read_file(dir.file("taint")), 16, Helpers::kNative);
}

std::string hex(uint64_t v) {
    char s[32];
    std::snprintf(s, sizeof s, "%#" PRIx64, v);
    return s;
}

// One TAINTED_BRANCH line: its pc, kind, labels and compute number
// ("pc kind labels tcn").
std::vector<std::string> branches_in(const std::string& text) {
    std::vector<std::string> found;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        char kind[32] = {}, labels[512] = {};
        uint64_t pc = 0, asid = 0;
        unsigned tcn = 0;
        if (std::sscanf(line.c_str(),
                        "TAINTED_BRANCH pc=%" SCNx64 " kind=%31s asid=%" SCNx64
                        " labels=%511s tcn=%u",
                        &pc, kind, &asid, labels, &tcn) == 5) {
            found.push_back(hex(pc) + " " + kind + " " + labels + " " + std::to_string(tcn));
        } else {
            found.push_back("unreadable: " + line);
        }
    }
    return found;
}

// What the source says tainted_branch must list for taintflow 16: the JAE
// at hp_taintflow_branch once per byte, k = 0..15, tainted by {k} (taken or
// not), its condition computed once from a copy (the CMP: number 1); then
// the JMP at hp_taintflow_jump, its target read through an address
// computed from dst[2]: {2}, number 2 (the AND on the copy, then the JMP's
// address arithmetic; the load through that address is the same
// instruction). Nothing else the guest runs (the loops' counters, REP
// MOVSB's count, the boot) depends on the input.
std::vector<std::string> expected_branches(uint64_t n) {
    std::vector<std::string> want;
    for (uint64_t k = 0; k < n; k++) {
        want.push_back(hex(guest_symbol("hp_taintflow_branch")) + " conditional " +
                       std::to_string(k) + " 1");
    }
    want.push_back(hex(guest_symbol("hp_taintflow_jump")) + " indirect 2 2");
    return want;
}

// taintflow 16 with taint2 (answers to dir/<name>.answers) and
// tainted_branch with `args`.
RunResult run_with_tainted_branch(const TempDir& dir, const std::string& name,
                                  const std::string& args) {
    return run(guest_args("taintflow 16", {"-cpu", "qemu64,vendor=GenuineIntel", "-panda",
                                           "taint2:out=" + dir.file(name + ".answers"), "-panda",
                                           "tainted_branch:" + args}),
               kLimit);
}

TEST(Taint2, TaintedBranchListsExactlyTheBranchesOnTheInput) {
    TempDir dir;
    RunResult r = run_with_tainted_branch(dir, "text", "out=" + dir.file("branches"));
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("taintflow", hp_taintflow_value(16))});
    EXPECT_EQ(branches_in(read_file(dir.file("branches"))), expected_branches(16));
}

// The same run as JSON lines, and summarised: one line per branch with
// its count and the union of its labels.
TEST(Taint2, TaintedBranchJsonAndSummaryAgreeWithTheSource) {
    TempDir dir;
    RunResult r = run_with_tainted_branch(dir, "json", "json=on,out=" + dir.file("json"));
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    std::vector<std::string> got;
    std::istringstream in(read_file(dir.file("json")));
    std::string line;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << line;
        std::string labels;
        for (const auto& l : j.at("labels")) {
            labels += (labels.empty() ? "" : ",") + std::to_string(l.get<unsigned>());
        }
        got.push_back(hex(j.at("pc").get<uint64_t>()) + " " + j.at("kind").get<std::string>() +
                      " " + labels + " " + std::to_string(j.at("tcn").get<unsigned>()));
    }
    EXPECT_EQ(got, expected_branches(16));

    RunResult s = run_with_tainted_branch(dir, "summary", "summary=on,out=" + dir.file("summary"));
    ASSERT_EQ(s.exit_status, debug_exit_status(0)) << describe(s);
    EXPECT_EQ(read_file(dir.file("summary")),
              "TAINTED_BRANCH pc=" + hex(guest_symbol("hp_taintflow_branch")) +
                  " kind=conditional count=16 labels=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
                  "TAINTED_BRANCH pc=" +
                  hex(guest_symbol("hp_taintflow_jump")) + " kind=indirect count=1 labels=2\n");
}

// The main use: record under TCG with no plugin (the hypercalls are plain
// CPUIDs then), taint offline. Each replay verifies against the
// recording, gives the model's answers and branches, and a second replay
// writes byte-identical reports (PANDA users have reported taint results
// that differ between replays: panda-re/panda#315, #711).
TEST(Taint2, ReplayedTwiceGivesTheModelsAnswersAndTheSameBytes) {
    TempDir dir;
    const std::string rec = dir.file("rec");
    RunResult r = run(guest_args("taintflow 16",
                                 {"-cpu", "qemu64,vendor=GenuineIntel", "-record-from", ":" + rec}),
                      kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    ASSERT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("taintflow", hp_taintflow_value(16))});
    const std::string instructions =
        std::to_string(nlohmann::json::parse(read_file(rec + "/manifest.json"))
                           .at("instructions")
                           .get<uint64_t>());
    std::string first_answers, first_branches;
    for (int i = 0; i < 2; i++) {
        const std::string answers = dir.file("taint" + std::to_string(i)),
                          branches = dir.file("branches" + std::to_string(i));
        RunResult p = run({emulator(), "-replay", rec, "-panda", "taint2:out=" + answers, "-panda",
                           "tainted_branch:out=" + branches},
                          kLimit);
        ASSERT_EQ(p.exit_status, 0) << describe(p);
        EXPECT_EQ(lines_starting_with(p.err, "replay verified"),
                  std::vector<std::string>{"replay verified: " + instructions +
                                           " instructions, RAM hash ok"})
            << describe(p);
        expect_taintflow_answers(read_file(answers), 16);
        EXPECT_EQ(branches_in(read_file(branches)), expected_branches(16));
        if (i == 0) {
            first_answers = read_file(answers);
            first_branches = read_file(branches);
        } else {
            EXPECT_EQ(read_file(answers), first_answers);
            EXPECT_EQ(read_file(branches), first_branches);
        }
    }
}

// tainted_instr on taintflow 16: the source gives every instruction that
// loads or stores a tainted byte or branches on one, how often and with
// which labels (tainted pointers: the JMP's table entry, loaded through an
// address computed from dst[2], carries {2}; MOVDQU is two 8-byte
// accesses under QEMU). Outside hp_taintflow the guest touches taint in
// two places, 16 times each: the FNV loop of workload_taintflow reading
// out[k], and con_put_hex printing the RESULT's 16 hex digits (each a
// table lookup through a nibble of the tainted value).
std::vector<std::string> expected_instructions() {
    const std::string all = "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15";
    const std::vector<std::tuple<std::string, std::string, int, std::string>> at = {
        {"copy", "load", 16, all},
        {"copy", "store", 16, all},
        {"xor_load", "load", 16, all},
        {"xor_store", "store", 16, all},
        {"add_load", "load", 1, "0"},
        {"add", "load", 1, "15"},
        {"add_store", "store", 1, "0,15"},
        {"mul_load", "load", 1, "1"},
        {"mul", "load", 1, "3"},
        {"mul_store", "store", 1, "1,3"},
        {"divide_load", "load", 1, "4"},
        {"divide", "load", 1, "5"},
        {"divide_store", "store", 1, "4,5"},
        {"cmp", "load", 16, all},
        {"branch", "branch", 16, all},
        {"jump_load", "load", 1, "2"},
        {"jump", "load", 1, "2"},
        {"jump", "jump", 1, "2"},
        {"sse_load", "load", 2, all},
        {"sse_store", "store", 2, all},
        {"ptr_load", "load", 1, "3"},
        {"ptr_store", "store", 1, "3"}};
    std::vector<std::string> want;
    for (const auto& [symbol, kind, count, labels] : at) {
        want.push_back(hex(guest_symbol("hp_taintflow_" + symbol)) + " " + kind + " " +
                       std::to_string(count) + " " + labels);
    }
    return want;
}

TEST(Taint2, TaintedInstrListsExactlyTheInstructionsTouchingTheInput) {
    TempDir dir;
    const auto run_instr = [&](const std::string& args) {
        return run(guest_args("taintflow 16", {"-cpu", "qemu64,vendor=GenuineIntel", "-panda",
                                               "taint2:out=" + dir.file("answers"), "-panda",
                                               "tainted_instr:" + args}),
                   kLimit);
    };
    RunResult r = run_instr("summary=on,out=" + dir.file("summary"));
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    // "pc kind count labels" per summary line, the C code's apart.
    std::vector<std::string> in_assembly, in_c;
    const uint64_t start = guest_symbol("hp_taintflow"),
                   end = guest_image().next_symbol_after(guest_symbol("hp_taintflow_ptr_store"));
    std::istringstream in(read_file(dir.file("summary")));
    std::string line;
    std::map<std::string, std::string> by_key;  // "pc kind" -> "count labels"
    while (std::getline(in, line)) {
        char kind[16] = {}, labels[512] = {};
        uint64_t pc = 0, count = 0;
        ASSERT_EQ(
            std::sscanf(line.c_str(),
                        "TAINTED_INSTR pc=%" SCNx64 " kind=%15s count=%" SCNu64 " labels=%511s",
                        &pc, kind, &count, labels),
            4)
            << line;
        const std::string entry = hex(pc) + " " + kind + " " + std::to_string(count) + " " + labels;
        (pc >= start && pc < end ? in_assembly : in_c).push_back(entry);
        by_key[hex(pc) + " " + kind] = std::to_string(count) + " " + labels;
    }
    EXPECT_EQ(in_assembly, expected_instructions());
    ASSERT_EQ(in_c.size(), 2u) << read_file(dir.file("summary"));
    const std::string all = "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15";
    for (const auto& [function, entry] :
         {std::make_pair("con_put_hex", in_c[0]), std::make_pair("workload_taintflow", in_c[1])}) {
        uint64_t pc = 0;
        std::sscanf(entry.c_str(), "%" SCNx64, &pc);
        EXPECT_GE(pc, guest_symbol(function)) << entry;
        EXPECT_LT(pc, guest_image().next_symbol_after(guest_symbol(function))) << entry;
        EXPECT_EQ(entry.substr(entry.find(' ')), " load 16 " + all);
    }

    // One line per touch, as JSON: the same touches as the summary counts,
    // each with its compute number (the stores of computed bytes 1, the
    // jump's target and the byte stored through the tainted address 2).
    RunResult j = run_instr("json=on,out=" + dir.file("json"));
    ASSERT_EQ(j.exit_status, debug_exit_status(0)) << describe(j);
    std::map<std::string, std::pair<uint64_t, std::set<unsigned>>> counted;
    std::map<std::string, std::set<unsigned>> tcns;
    std::istringstream json_in(read_file(dir.file("json")));
    while (std::getline(json_in, line)) {
        const auto e = nlohmann::json::parse(line, nullptr, false);
        ASSERT_FALSE(e.is_discarded()) << line;
        const std::string key =
            hex(e.at("pc").get<uint64_t>()) + " " + e.at("kind").get<std::string>();
        counted[key].first++;
        for (const auto& l : e.at("labels")) {
            counted[key].second.insert(l.get<unsigned>());
        }
        tcns[key].insert(e.at("tcn").get<unsigned>());
    }
    std::map<std::string, std::string> from_json;
    for (const auto& [key, c] : counted) {
        std::string labels;
        for (unsigned l : c.second) {
            labels += (labels.empty() ? "" : ",") + std::to_string(l);
        }
        from_json[key] = std::to_string(c.first) + " " + labels;
    }
    EXPECT_EQ(from_json, by_key);
    const auto tcn_at = [&](const std::string& symbol, const std::string& kind) {
        return tcns[hex(guest_symbol("hp_taintflow_" + symbol)) + " " + kind];
    };
    EXPECT_EQ(tcn_at("copy", "store"), std::set<unsigned>{0});
    EXPECT_EQ(tcn_at("add_store", "store"), std::set<unsigned>{1});
    EXPECT_EQ(tcn_at("divide_store", "store"), std::set<unsigned>{1});
    EXPECT_EQ(tcn_at("jump", "jump"), std::set<unsigned>{2});
    EXPECT_EQ(tcn_at("ptr_store", "store"), std::set<unsigned>{2});
}

// taintcap on taintflow 16: per tap point (PC, caller, load or store) the
// tainted bytes of memory that flowed through it, values and labels, all
// from the source: src[k] = hp_taintflow_input(k) labelled k, the copies,
// the XOR's, ADD's, MUL's and DIV's results; the JMP's table entry is
// clean in memory (tainted only through its address) and the RESULT's hex
// digits too, so neither is a tap point. All of hp_taintflow's have one
// caller, in workload_taintflow, whose FNV loop is the last tap point.
struct CapturedTap {
    std::string symbol, kind;
    std::vector<uint8_t> data;
    std::vector<std::string> labels;
};

std::string hex_bytes(const std::vector<uint8_t>& data) {
    std::string s;
    for (uint8_t b : data) {
        char two[3];
        std::snprintf(two, sizeof two, "%02x", b);
        s += two;
    }
    return s;
}

std::string joined_labels(const std::vector<std::string>& labels) {
    std::string s;
    for (const auto& l : labels) {
        s += (s.empty() ? "" : ";") + l;
    }
    return s;
}

TEST(Taint2, TaintcapCapturesEachTapPointsBytesAndLabels) {
    const auto in = [](uint64_t k) { return hp_taintflow_input(k); };
    std::vector<uint8_t> src, xored, out;
    std::vector<std::string> each;
    for (uint64_t k = 0; k < 16; k++) {
        src.push_back(in(k));
        xored.push_back(in(k) ^ HP_TAINTFLOW_XOR);
        each.push_back(std::to_string(k));
    }
    const uint8_t sum = in(0) + in(15), product = in(1) * in(3);
    out = xored;
    out[0] = sum;
    out[1] = product;
    std::vector<std::string> out_labels = each;
    out_labels[0] = "0,15";
    out_labels[1] = "1,3";
    const std::vector<CapturedTap> want = {
        {"copy", "load", src, each},
        {"copy", "store", src, each},
        {"xor_load", "load", src, each},
        {"xor_store", "store", xored, each},
        {"add_load", "load", {in(0)}, {"0"}},
        {"add", "load", {in(15)}, {"15"}},
        {"add_store", "store", {sum}, {"0,15"}},
        {"mul_load", "load", {in(1)}, {"1"}},
        {"mul", "load", {in(3)}, {"3"}},
        {"mul_store", "store", {product}, {"1,3"}},
        {"divide_load", "load", {in(4)}, {"4"}},
        {"divide", "load", {in(5)}, {"5"}},
        {"divide_store",
         "store",
         {static_cast<uint8_t>(in(4) / in(5)), static_cast<uint8_t>(in(4) % in(5))},
         {"4,5", "4,5"}},
        {"cmp", "load", src, each},
        {"jump_load", "load", {in(2)}, {"2"}},
        {"sse_load", "load", src, each},
        {"sse_store", "store", src, each},
        {"ptr_load", "load", {in(3)}, {"3"}},
        {"ptr_store", "store", {HP_TAINTFLOW_MARK}, {"3"}},
    };
    std::vector<std::string> expected;
    for (const CapturedTap& t : want) {
        expected.push_back(hex(guest_symbol("hp_taintflow_" + t.symbol)) + " " + t.kind + " " +
                           std::to_string(t.data.size()) + " " + hex_bytes(t.data) + " " +
                           joined_labels(t.labels));
    }

    TempDir dir;
    RunResult r = run(guest_args("taintflow 16",
                                 {"-cpu", "qemu64,vendor=GenuineIntel", "-panda",
                                  "taint2:out=" + dir.file("answers"), "-panda", "callstack_instr",
                                  "-panda", "taintcap:out=" + dir.file("taps")}),
                      kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    std::vector<std::string> got;
    std::vector<uint64_t> callers;
    std::istringstream lines(read_file(dir.file("taps")));
    std::string line;
    while (std::getline(lines, line)) {
        uint64_t caller = 0, pc = 0, asid = 0, bytes = 0;
        char kind[16] = {}, data[4096] = {}, labels[8192] = {};
        ASSERT_EQ(std::sscanf(line.c_str(),
                              "TAINTCAP caller=%" SCNx64 " pc=%" SCNx64 " asid=%" SCNx64
                              " kind=%15s bytes=%" SCNu64 " data=%4095s labels=%8191s",
                              &caller, &pc, &asid, kind, &bytes, data, labels),
                  7)
            << line;
        got.push_back(hex(pc) + " " + kind + " " + std::to_string(bytes) + " " + data + " " +
                      labels);
        callers.push_back(caller);
    }
    ASSERT_EQ(got.size(), want.size() + 1) << read_file(dir.file("taps"));
    const std::string fnv = got.back();
    got.pop_back();
    EXPECT_EQ(got, expected);
    // hp_taintflow's one caller: the return address of its call, in
    // workload_taintflow.
    const uint64_t w = guest_symbol("workload_taintflow"),
                   w_end = guest_image().next_symbol_after(w);
    for (size_t k = 0; k + 1 < callers.size(); k++) {
        EXPECT_EQ(callers[k], callers[0]);
    }
    EXPECT_GT(callers[0], w);
    EXPECT_LT(callers[0], w_end);
    // The FNV loop reading out[k]: every byte as the XOR, ADD and MUL left it.
    uint64_t fnv_pc = 0;
    std::sscanf(fnv.c_str(), "%" SCNx64, &fnv_pc);
    EXPECT_GE(fnv_pc, w);
    EXPECT_LT(fnv_pc, w_end);
    EXPECT_EQ(fnv.substr(fnv.find(' ')),
              " load 16 " + hex_bytes(out) + " " + joined_labels(out_labels));
}

// Without the plugin the hypercalls are plain CPUIDs: the same RESULT.
TEST(Taint2, TaintflowRunsTheSameWithoutThePlugin) {
    RunResult r = run(guest_args("taintflow 16", {"-cpu", "qemu64,vendor=GenuineIntel"}), kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("taintflow", hp_taintflow_value(16))});
}

// An output file that cannot be made: one line naming it, and no run.
TEST(Taint2, AnOutputFileThatCannotBeMadeIsOneErrorLine) {
    TempDir dir;
    const std::string bad = dir.file("missing/answers");
    RunResult r = run(guest_args("taintflow 16", {"-panda", "taint2:out=" + bad}), kLimit);
    // (The emulator's exit status 1 for a plugin that failed to load is the
    // debug-exit device's for a clean guest exit too: the output tells.)
    EXPECT_EQ(lines_starting_with(r.err, "taint2:"),
              std::vector<std::string>{"taint2: out=" + bad + ": No such file or directory"});
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "), std::vector<std::string>{});
}

// taintcap keeping nothing per tap point: one line naming it, and no run.
TEST(Taint2, TaintcapWithMaxZeroIsOneErrorLine) {
    RunResult r = run(guest_args("taintflow 16", {"-panda", "taint2", "-panda", "callstack_instr",
                                                  "-panda", "taintcap:max=0"}),
                      kLimit);
    EXPECT_EQ(lines_starting_with(r.err, "taintcap:"),
              std::vector<std::string>{"taintcap: max=0: a tap point must keep at least one byte"});
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "), std::vector<std::string>{});
}

// tainted_net's arguments out of range: one line each, naming it.
TEST(Taint2, TaintedNetRefusesAPortOrLabelOutOfRange) {
    for (const auto& [arg, line] :
         {std::make_pair("port=70000", "tainted_net: port=70000: not a TCP port (0..65535)"),
          std::make_pair("label=4294967296",
                         "tainted_net: label=4294967296: labels are 32 bits")}) {
        RunResult r = run(guest_args("taintflow 16", {"-panda", "taint2", "-panda",
                                                      std::string("tainted_net:") + arg}),
                          kLimit);
        EXPECT_EQ(lines_starting_with(r.err, "tainted_net:"), std::vector<std::string>{line})
            << r.err;
        EXPECT_EQ(lines_starting_with(r.out, "RESULT "), std::vector<std::string>{});
    }
}

// A query while tracking is off (manual=on, nothing labelled yet): every
// byte clean, and the guest runs on (it once crashed the emulator).
TEST(Taint2, AQueryBeforeTrackingStartsAnswersClean) {
    TempDir dir;
    RunResult r =
        run(guest_args("taintbad 1", {"-panda", "taint2:manual=on,out=" + dir.file("answers")}),
            kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("taintbad", 1)});
    const std::vector<Answer> answers = read_answers(read_file(dir.file("answers")));
    ASSERT_EQ(answers.size(), 16u);
    for (const Answer& a : answers) {
        EXPECT_EQ(a.labels, "clean");
    }
}

// taintbad 3 (model.h): three rounds of an unknown command and a query of
// 2 MiB. Each is one error line; the guest runs on to its RESULT.
TEST(Taint2, BadHypercallsAreOneErrorLineEach) {
    RunResult r = run(guest_args("taintbad 3", {"-panda", "taint2"}), kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              std::vector<std::string>{result_line("taintbad", 3)});
    const std::vector<std::string> lines = lines_starting_with(r.err, "taint2:");
    ASSERT_EQ(lines.size(), 6u) << r.err;
    const std::string too_long_start = "taint2: hypercall: 2097152 bytes at 0x";
    const std::string too_long_end = " is more than the 1048576 allowed";
    for (size_t i = 0; i < lines.size(); i += 2) {
        EXPECT_EQ(lines[i], "taint2: hypercall: unknown command 7 (1 labels, 2 queries)");
        EXPECT_EQ(lines[i + 1].compare(0, too_long_start.size(), too_long_start), 0)
            << lines[i + 1];
        EXPECT_GT(lines[i + 1].size(), too_long_start.size() + too_long_end.size());
        EXPECT_EQ(lines[i + 1].substr(lines[i + 1].size() - too_long_end.size()), too_long_end)
            << lines[i + 1];
    }
}

}  // namespace
}  // namespace hypanda::test
