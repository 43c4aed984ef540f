// The TCG callback set and the runtime control API, with exact numbers:
// block and instruction counts agree with QEMU's own plugin API in the same
// run, and per-block counts follow from the test guest's code.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <map>
#include <sstream>

#include "elf_image.h"
#include "expected.h"
#include "model.h"
#include "run.h"

namespace hypanda::test {
namespace {

constexpr std::chrono::seconds kLimit{120};

// The suite runs three times (tests/meson.build): on TCG, and with
// HYPANDA_TEST_ENGINE=llvm in LLVM mode (the probe turns it on at init), or
// =llvm-helpers with QEMU's helpers in the JIT too, where every count must
// be the same and every block must run on LLVM's JIT.
std::string engine() {
    const char* e = getenv("HYPANDA_TEST_ENGINE");
    return e != nullptr ? e : "tcg";
}

bool llvm_mode() { return engine() == "llvm" || engine() == "llvm-helpers"; }

std::string engine_arg() {
    return engine() == "llvm" ? ",llvm=1" : engine() == "llvm-helpers" ? ",llvm=1,llvm_helpers=1" : "";
}

void expect_engine_ran(const std::map<std::string, uint64_t>& probe, const RunResult& run) {
    if (!llvm_mode()) {
        return;
    }
    EXPECT_GT(probe.at("llvm_blocks"), 100000u);
    EXPECT_EQ(probe.at("llvm_bbe"), probe.at("llvm_blocks")) << "blocks ran outside LLVM mode";
    EXPECT_EQ(run.err.find("llvm:"), std::string::npos) << run.err;
}

uint64_t symbol(const std::string& name) { return guest_symbol(name); }

struct Probed {
    RunResult run;
    std::map<std::string, uint64_t> probe;
    std::map<std::string, uint64_t> qemu;  // empty unless asked for
};

// Boots the guest with the probe plugin (and QEMU's counter plugin when
// `with_qemu_counter`), Intel vendor so every workload runs.
Probed probe(const std::string& append, const std::string& probe_args, bool with_qemu_counter = false) {
    TempDir dir;
    std::vector<std::string> extra = {"-cpu", "qemu64,vendor=GenuineIntel", "-panda",
                                      "probe:output=" + dir.file("probe") + "," + probe_args + engine_arg()};
    if (with_qemu_counter) {
        extra.insert(extra.end(), {"-plugin", build_root() + "/tests/qemu-plugins/libcounter.so,out=" +
                                                  dir.file("qemu")});
    }
    Child child(guest_args(append, extra), {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
    Probed p{child.wait(kLimit), {}, {}};
    p.probe = read_counts(dir.file("probe"));
    expect_engine_ran(p.probe, p.run);
    if (with_qemu_counter) {
        p.qemu = read_counts(dir.file("qemu"));
    }
    return p;
}

uint64_t count_loop_label() {
    uint64_t label = guest_count_loop_label();
    EXPECT_NE(label, 0u) << "hp_count_loop's loop is not where the tests expect it";
    return label;
}

// The CPUID in hp_hypercall_loop.
uint64_t cpuid_pc() {
    uint64_t start = symbol("hp_hypercall_loop");
    std::vector<uint8_t> code = guest_image().bytes_at(start, 32);
    for (size_t i = 0; i + 1 < code.size(); i++) {
        if (code[i] == 0x0f && code[i + 1] == 0xa2) {
            return start + i;
        }
    }
    ADD_FAILURE() << "no CPUID in hp_hypercall_loop";
    return 0;
}

class AgreementWithQemuPluginApi : public testing::TestWithParam<const char*> {};

TEST_P(AgreementWithQemuPluginApi, BlocksAndInstructionsAreCountedExactlyAlike) {
    Probed p = probe(GetParam(), "cbs=bbe+insn", true);
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    ASSERT_GT(p.qemu["blocks"], 0u);
    EXPECT_EQ(p.probe["bbe"], p.qemu["blocks"]);
    EXPECT_EQ(p.probe["insn"], p.qemu["insns"]);
}

TEST_P(AgreementWithQemuPluginApi, StillAlikeWithChainingOff) {
    Probed p = probe(GetParam(), "cbs=bbe+insn,nochain=1", true);
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    EXPECT_EQ(p.probe["bbe"], p.qemu["blocks"]);
    EXPECT_EQ(p.probe["insn"], p.qemu["insns"]);
}

INSTANTIATE_TEST_SUITE_P(Workloads, AgreementWithQemuPluginApi,
                         testing::Values("count 20000", "mem 20000", "user 300", "timer 20", "io 200",
                                         "fault 50", "hypercall 50"));

// The instruction count (panda_enable_instr_count): at every executed
// block, boot included, it equals the instructions whose insn_exec ran
// minus the attempts a fault or restore took back (fault N: N faulting
// loads that never complete). Every block is checked.
class InstructionCount : public testing::TestWithParam<const char*> {};

TEST_P(InstructionCount, IsExactAtEveryBlock) {
    Probed p = probe(GetParam(), "cbs=bbe+insn+rst,icount=1");
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    EXPECT_EQ(p.probe["icount_checked"], p.probe["bbe"]);
    EXPECT_GT(p.probe["icount_checked"], 1000000u);
    EXPECT_EQ(p.probe["icount_mismatch"], 0u);
}

INSTANTIATE_TEST_SUITE_P(Workloads, InstructionCount,
                         testing::Values("count 20000", "mem 20000", "user 300", "timer 20", "io 200",
                                         "fault 50", "hypercall 50", "cross 100", "alias 100"));

TEST(InstructionCountFaults, AFaultingInstructionIsNotCounted) {
    // The same boot with 50 more faults: 50 more attempts taken back.
    Probed few = probe("fault 10", "cbs=bbe+insn+rst,icount=1");
    Probed more = probe("fault 60", "cbs=bbe+insn+rst,icount=1");
    ASSERT_EQ(few.run.exit_status, debug_exit_status(0)) << describe(few.run);
    ASSERT_EQ(more.run.exit_status, debug_exit_status(0)) << describe(more.run);
    EXPECT_EQ(more.probe["rst"] - few.probe["rst"], 50u);
    EXPECT_EQ(few.probe["icount_mismatch"] + more.probe["icount_mismatch"], 0u);
}

// The memory callbacks against QEMU's plugin API, for every access made at
// a PC in the test guest's kernel: same PC, address, size, direction and
// order (both sides hash them in order), counted apart from the accesses
// QEMU's API cannot see (interrupt and exception delivery).
class MemoryAgreement : public testing::TestWithParam<const char*> {};

TEST_P(MemoryAgreement, AccessesMatchQemuPluginApiAndRam) {
    // The kernel's code lies in [1 MiB, 2 MiB).
    const std::string range = "memlo=0x100000,memhi=0x200000";
    TempDir dir;
    std::vector<std::string> extra = {
        "-cpu", "qemu64,vendor=GenuineIntel",
        "-panda", "probe:cbs=mem," + range + ",output=" + dir.file("probe") + engine_arg(),
        "-plugin", build_root() + "/tests/qemu-plugins/libcounter.so,out=" + dir.file("qemu") +
                       ",what=mem," + range};
    Child child(guest_args(GetParam(), extra), {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"});
    RunResult r = child.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    auto ours = read_counts(dir.file("probe"));
    auto qemu = read_counts(dir.file("qemu"));
    expect_engine_ran(ours, r);
    ASSERT_GT(qemu["mem_writes"], 0u);
    EXPECT_EQ(ours["mem_reads"], qemu["mem_reads"]);
    EXPECT_EQ(ours["mem_writes"], qemu["mem_writes"]);
    EXPECT_EQ(ours["mem_hash"], qemu["mem_hash"]);
    // Physical callbacks: one per access, one more for each access that
    // crosses a page; at the physical address (the guest maps 1:1), with the
    // bytes in RAM.
    EXPECT_EQ(ours["mem_phys_reads"] + ours["mem_phys_writes"],
              ours["mem_reads"] + ours["mem_writes"] + ours["mem_delivery"] + ours["cross_second"]);
    EXPECT_EQ(ours["mem_phys_mismatch"], 0u);
    EXPECT_GT(ours["mem_data_checked"], 0u);
    EXPECT_EQ(ours["mem_data_mismatch"], 0u);
    // cpu_init's LGDT/LIDT/LTR read descriptors through QEMU's helpers.
    EXPECT_GT(ours["mem_helper"], 0u);
    const std::string w = GetParam();
    bool delivers = w.find("user") != std::string::npos || w.find("timer") != std::string::npos ||
                    w.find("fault") != std::string::npos;
    EXPECT_EQ(ours["mem_delivery"] > 0, delivers) << ours["mem_delivery"];
}

INSTANTIATE_TEST_SUITE_P(Workloads, MemoryAgreement,
                         testing::Values("count 1000", "mem 3000", "io 50", "user 30", "timer 5",
                                         "fault 5", "hypercall 3", "cross 20"));

TEST(MemoryCallbacks, APageCrossingAccessIsOneVirtualAndTwoPhysicalReports) {
    const uint64_t n = 40;
    Probed p = probe("cross " + std::to_string(n), "cbs=mem,memlo=0x100000,memhi=0x200000");
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    EXPECT_EQ(lines_starting_with(p.run.out, "RESULT"),
              std::vector<std::string>{result_line("cross", expected_cross(n))});
    EXPECT_EQ(p.probe["cross_virt"], 2 * n);    // n stores, n loads, 8 bytes each
    EXPECT_EQ(p.probe["cross_first"], 2 * n);   // 3 bytes up to the boundary
    EXPECT_EQ(p.probe["cross_second"], 2 * n);  // then 5 bytes on the next page
    EXPECT_EQ(p.probe["mem_data_mismatch"], 0u);
}

TEST(BlockCallbacks, CountLoopBlocksRunAndTranslateAsTheCodeSays) {
    const uint64_t n = 1000, label = count_loop_label();
    // Blocks: [hp_count_loop .. jnz] once, [label .. jnz] n-1 times, [ret] once.
    Probed p = probe("count " + std::to_string(n), "cbs=bbt+abt+bbe+abe,at=" + hex(label));
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    EXPECT_EQ(p.probe["at_bbe"], n - 1);
    EXPECT_EQ(p.probe["at_abe"], n - 1);
    EXPECT_EQ(p.probe["at_bbt"], 1u);
    EXPECT_EQ(p.probe["at_abt"], 1u);
    EXPECT_EQ(p.probe["bbt"], p.probe["abt"]);
    Probed entry = probe("count " + std::to_string(n), "cbs=bbe+abe,at=" + hex(symbol("hp_count_loop")));
    EXPECT_EQ(entry.probe["at_bbe"], 1u);
    EXPECT_EQ(entry.probe["at_abe"], 1u);
}

TEST(BlockCallbacks, AfterBlockExecNamesTheBlockThatRunsNext) {
    const uint64_t n = 1000, label = count_loop_label();
    Probed p = probe("count " + std::to_string(n), "cbs=bbe+abe,at=" + hex(label));
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    // The loop block's jump back to itself is chained from its second run
    // on (the first run's exit links it); its last run falls through to a
    // block not yet linked. So n-3 of its n-1 runs name itself as next.
    EXPECT_EQ(p.probe["at_abe_next_self"], n - 3);
    // Every block named as next while interrupts are off is the one whose
    // before_block_exec follows (with IF set, as in the firmware, a timer
    // interrupt may rightly come first).
    EXPECT_GE(p.probe["abe_next_match"], n - 3);
    EXPECT_EQ(p.probe["abe_next_match"] + p.probe["abe_next_unchecked"], p.probe["abe_next"]);
    EXPECT_EQ(p.probe["abe_next_mismatch"], 0u);
}

// The same physical code at two virtual addresses: each run is reported at
// the address it ran at, in the block and instruction callbacks and by
// panda_current_pc, with and without precise PC.
TEST(BlockCallbacks, AliasedCodeIsReportedAtTheAddressItRanAt) {
    const uint64_t n = 1000, label = count_loop_label();
    for (const char* precise : {"", ",precise=1"}) {
        for (uint64_t at : {label, label + HP_ALIAS_OFFSET}) {
            SCOPED_TRACE(hex(at) + precise);
            Probed p = probe("alias " + std::to_string(n), "cbs=bbe+insn,at=" + hex(at) + precise);
            ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
            EXPECT_EQ(lines_starting_with(p.run.out, "RESULT"),
                      std::vector<std::string>{result_line("alias", hp_alias_value(n))});
            // Per run of the loop: n-1 loop blocks, n executions of its add.
            EXPECT_EQ(p.probe["at_bbe"], n - 1);
            EXPECT_EQ(p.probe["at_bbe_current"], n - 1);
            EXPECT_EQ(p.probe["at_insn"], n);
            EXPECT_EQ(p.probe["at_insn_current"], n);
        }
    }
}

// Registers written from insn_exec and before_block_exec are seen by the
// guest at once, and every callback still runs exactly once: RAX += 1
// before each of the n adds of the count loop, RAX += 1000 before each of
// its n-1 loop blocks.
TEST(ExecCallbacks, RegisterWritesTakeEffectAtOnce) {
    const uint64_t n = 1000, label = count_loop_label();
    Probed plain = probe("count " + std::to_string(n), "cbs=bbe+insn,at=" + hex(label));
    ASSERT_EQ(plain.run.exit_status, debug_exit_status(0)) << describe(plain.run);
    EXPECT_EQ(plain.probe["at_insn"], n);
    EXPECT_EQ(plain.probe["at_bbe"], n - 1);
    for (const char* precise : {"", ",precise=1"}) {
        SCOPED_TRACE(precise);
        // With the instruction count on: restarts take back what they undo.
        Probed insn = probe("count " + std::to_string(n), "cbs=bbe+insn+rst,icount=1,at=" + hex(label) +
                                                              ",insn_add_rax=" + hex(label) + precise);
        ASSERT_EQ(insn.run.exit_status, debug_exit_status(0)) << describe(insn.run);
        EXPECT_EQ(lines_starting_with(insn.run.out, "RESULT"),
                  std::vector<std::string>{result_line("count", expected_count(n) + n)});
        // Each instrumented instruction's callbacks ran once, as without
        // the writes (the boot's own totals vary with time: BIOS waits).
        EXPECT_EQ(insn.probe["at_insn"], n);
        EXPECT_EQ(insn.probe["at_bbe"], n - 1);
        EXPECT_EQ(insn.probe["icount_mismatch"], 0u);

        Probed bbe = probe("count " + std::to_string(n), "cbs=bbe+insn+rst,icount=1,at=" + hex(label) +
                                                             ",bbe_add_rax=" + hex(label) + precise);
        ASSERT_EQ(bbe.run.exit_status, debug_exit_status(0)) << describe(bbe.run);
        EXPECT_EQ(lines_starting_with(bbe.run.out, "RESULT"),
                  std::vector<std::string>{result_line("count", expected_count(n) + 1000 * (n - 1))});
        EXPECT_EQ(bbe.probe["at_bbe"], n - 1);
        EXPECT_EQ(bbe.probe["at_insn"], n);
        EXPECT_EQ(bbe.probe["icount_mismatch"], 0u);
    }
}

TEST(MemoryCallbacks, RegisterWritesAreRefusedWithOneErrorLine) {
    Probed p = probe("mem 64", "cbs=vmem,mem_reg_write=1");
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    EXPECT_EQ(lines_starting_with(p.run.out, "RESULT"),
              std::vector<std::string>{result_line("mem", expected_mem(64))});
    EXPECT_GT(p.probe["mem_reg_write_refused"], 64u);
    EXPECT_EQ(p.probe["mem_reg_write_accepted"], 0u);
    EXPECT_EQ(lines_starting_with(p.run.err, "").size(), 1u) << p.run.err;
    EXPECT_NE(p.run.err.find("panda_reg_write: registers cannot be written from a memory callback"),
              std::string::npos)
        << p.run.err;
}

TEST(BlockCallbacks, AfterBlockExecNamesIndirectJumpTargets) {
    // Chaining off: goto_tb is never used, indirect jumps go through the
    // main loop, so next_tb is always NULL.
    Probed off = probe("count 1000", "cbs=bbe+abe,nochain=1");
    ASSERT_EQ(off.run.exit_status, debug_exit_status(0)) << describe(off.run);
    EXPECT_EQ(off.probe["abe_next"], 0u);
    // The mem workload's calls and returns are indirect jumps: their next
    // block is looked up, and must be the block that then runs.
    Probed on = probe("mem 64", "cbs=bbe+abe");
    ASSERT_EQ(on.run.exit_status, debug_exit_status(0)) << describe(on.run);
    EXPECT_GT(on.probe["abe_next"], 0u);
    EXPECT_EQ(on.probe["abe_next_mismatch"], 0u);
}

TEST(BlockCallbacks, InvalidateOptRetranslatesTheBlockBeforeItRuns) {
    const uint64_t n = 1000, label = count_loop_label();
    Probed p = probe("count " + std::to_string(n),
                     "cbs=inv+bbe+abt,at=" + hex(label) + ",invalidate=" + hex(label));
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    EXPECT_EQ(lines_starting_with(p.run.out, "RESULT"),
              std::vector<std::string>{result_line("count", expected_count(n))});
    EXPECT_EQ(p.probe["invalidated"], 1u);
    EXPECT_EQ(p.probe["at_inv"], n);      // n-1 runs, plus the one that invalidated
    EXPECT_EQ(p.probe["at_bbe"], n - 1);  // the invalidated attempt did not run
    EXPECT_EQ(p.probe["at_abt"], 2u);     // translated again
}

TEST(HypercallCallback, SeesEveryMagicCpuidWithItsArguments) {
    const uint64_t n = 40;
    Probed p = probe("hypercall " + std::to_string(n), "cbs=hyp,precise=1,at=" + hex(cpuid_pc()));
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    uint64_t ebx = 0, ecx = 0;
    for (uint64_t i = 0; i < n; i++) {
        ebx += hp_hypercall_ebx(i);
        ecx += hp_hypercall_ecx(i);
    }
    EXPECT_EQ(p.probe["hyp_magic"], n);
    EXPECT_EQ(p.probe["hyp_ebx_sum"], ebx);
    EXPECT_EQ(p.probe["hyp_ecx_sum"], ecx);
    EXPECT_EQ(p.probe["at_hyp"], n);  // the current PC is the CPUID's
}

TEST(HypercallCallback, CpuidEndsItsBlock) {
    const uint64_t n = 40;
    Probed p = probe("hypercall " + std::to_string(n), "cbs=bbe,at=" + hex(cpuid_pc() + 2));
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    EXPECT_EQ(p.probe["at_bbe"], n);
}

TEST(RestoreStateCallback, RunsForEveryFaultInsideABlockAtTheFaultingInstruction) {
    const uint64_t n = 25;
    Probed p = probe("fault " + std::to_string(n), "cbs=rst,at=" + hex(symbol("hp_fault_insn")));
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    EXPECT_EQ(lines_starting_with(p.run.out, "RESULT"),
              std::vector<std::string>{result_line("fault", expected_fault(n))});
    EXPECT_EQ(p.probe["at_rst"], n);
}

TEST(RuntimeControl, FlushMakesBlocksTranslateAgain) {
    const uint64_t label = count_loop_label();
    const std::string append = "count 10 hypercall 1 count 10";
    Probed kept = probe(append, "cbs=abt+hyp,at=" + hex(label));
    Probed flushed = probe(append, "cbs=abt+hyp,flush_on_hypercall=1,at=" + hex(label));
    ASSERT_EQ(kept.run.exit_status, debug_exit_status(0)) << describe(kept.run);
    ASSERT_EQ(flushed.run.exit_status, debug_exit_status(0)) << describe(flushed.run);
    EXPECT_EQ(kept.probe["at_abt"], 1u);
    EXPECT_EQ(flushed.probe["at_abt"], 2u);
}

TEST(RuntimeControl, MemsavepWritesRamWithoutPerturbingTheGuest) {
    TempDir dir;
    const std::string append = "hypercall 1 count 100 mem 1000";
    RunResult plain = run(guest_args(append), kLimit);
    Probed p = probe(append, "cbs=hyp,memsave=" + dir.file("ram"));
    ASSERT_EQ(p.run.exit_status, debug_exit_status(0)) << describe(p.run);
    EXPECT_EQ(lines_starting_with(p.run.out, "RESULT"), lines_starting_with(plain.out, "RESULT"));
    std::string ram = read_file(dir.file("ram"));
    ASSERT_EQ(ram.size(), 128u << 20);  // -m default
    uint64_t at = symbol("hp_count_loop");
    std::vector<uint8_t> code = guest_image().bytes_at(at, 64);
    ASSERT_EQ(code.size(), 64u);
    EXPECT_EQ(std::vector<uint8_t>(ram.begin() + at, ram.begin() + at + 64), code);
}

}  // namespace
}  // namespace hypanda::test
