// Record and replay (docs/recording.md) on the test guest under TCG: each
// workload is recorded from power-on with -record-from, then replayed ten
// times with -replay on a machine without its disk. Exact checks:
//   - the recorded run prints the RESULT lines the host-side model says;
//   - every replay ends with "replay verified: N instructions, RAM hash ok",
//     N being the manifest's instruction count;
//   - the conout plugin, which reads what the guest writes to COM1 from
//     the CPU side, sees byte for byte the same console text in the
//     recorded run and in every replay (RESULT lines included), and the
//     memhash plugin the same guest memory accesses.
// Bad recordings and a replay that is fed a changed input end in one error
// line.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "elf_image.h"
#include "expected.h"
#include "model.h"
#include "monitor.h"
#include "recording.h"
#include "recording_edit.h"
#include "result.h"
#include "run.h"

namespace hypanda::test {
namespace {

namespace rr = hypanda::rr;

constexpr std::chrono::seconds kLimit{120};
constexpr int kReplays = 10;

std::vector<std::string> plugin_env() { return {"PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins"}; }

RunResult run_with_plugins(const std::vector<std::string>& args) {
    Child child(args, plugin_env());
    return child.wait(kLimit);
}

std::string conout(const std::string& file) { return "conout:output=" + file; }

// The replay's closing line for a recording of `n` instructions.
std::string verified(uint64_t n) { return "replay verified: " + std::to_string(n) + " instructions, RAM hash ok"; }

uint64_t recorded_instructions(const std::string& rec) {
    return nlohmann::json::parse(read_file(rec + "/manifest.json")).at("instructions").get<uint64_t>();
}

struct Recorded {
    TempDir dir;
    std::string rec;
    RunResult result;
};

// Records the guest running `append` from power-on into dir/rec, with
// conout writing dir/record.out.
void record(Recorded* r, const std::string& append, const std::vector<std::string>& extra = {}) {
    r->rec = r->dir.file("rec");
    std::vector<std::string> args = guest_args(append, extra);
    args.insert(args.end(), {"-record-from", ":" + r->rec, "-panda", conout(r->dir.file("record.out"))});
    r->result = run_with_plugins(args);
}

RunResult replay(const std::string& rec, const std::vector<std::string>& panda) {
    std::vector<std::string> args = {emulator(), "-replay", rec};
    for (const std::string& p : panda) {
        args.insert(args.end(), {"-panda", p});
    }
    return run_with_plugins(args);
}

// Records `append`, checks the recorded run's RESULT lines, then replays
// it kReplays times and checks each replay against the recording.
void record_and_replay(const std::string& append, const std::vector<std::string>& results,
                       const std::vector<std::string>& extra = {}) {
    Recorded r;
    record(&r, append, extra);
    ASSERT_EQ(r.result.exit_status, debug_exit_status(0)) << describe(r.result);
    EXPECT_EQ(lines_starting_with(r.result.out, "RESULT "), results) << describe(r.result);
    const std::string console = read_file(r.dir.file("record.out"));
    EXPECT_EQ(lines_starting_with(console, "RESULT "), results) << console;
    const uint64_t n = recorded_instructions(r.rec);
    EXPECT_GT(n, 1000u);
    for (int i = 0; i < kReplays; i++) {
        const std::string out = r.dir.file("replay" + std::to_string(i) + ".out");
        RunResult p = replay(r.rec, {conout(out)});
        ASSERT_EQ(p.exit_status, 0) << "replay " << i << ": " << describe(p);
        EXPECT_EQ(lines_starting_with(p.err, "replay verified"), std::vector<std::string>{verified(n)})
            << "replay " << i << ": " << describe(p);
        EXPECT_EQ(read_file(out), console) << "replay " << i;
    }
}

TEST(RecordReplay, Count) {
    record_and_replay("count 200000", {result_line("count", expected_count(200000))});
}

TEST(RecordReplay, Mem) { record_and_replay("mem 20000", {result_line("mem", expected_mem(20000))}); }

TEST(RecordReplay, TimerInterrupts) { record_and_replay("timer 20", {result_line("timer", 20)}); }

TEST(RecordReplay, PortAndMmioReads) { record_and_replay("io 500", {result_line("io", expected_io(500))}); }

TEST(RecordReplay, FaultsAndUserMode) {
    record_and_replay("fault 200 user 2000",
                      {result_line("fault", expected_fault(200)), result_line("user", expected_user(2000))},
                      {"-cpu", "qemu64,vendor=GenuineIntel"});
}

// The disk is read with PIO while recording; replay runs without it.
TEST(RecordReplay, DiskWithoutTheImage) {
    TempDir images;
    const std::vector<uint8_t> image = make_disk_image(64 * 512, 11);
    std::ofstream(images.file("disk.img"), std::ios::binary)
        .write(reinterpret_cast<const char*>(image.data()), image.size());
    record_and_replay("disk 32", {result_line("disk", expected_disk(image, 32))},
                      {"-drive", "file=" + images.file("disk.img") + ",format=raw,if=ide,index=0"});
}

// Bus-master DMA: the block layer writes the sectors into guest RAM from
// another thread; the recording holds them back for the vCPU, which logs
// them where the guest can first see them.
TEST(RecordReplay, DiskDmaWithoutTheImage) {
    TempDir images;
    const std::vector<uint8_t> image = make_disk_image(128 * 512, 5);
    std::ofstream(images.file("disk.img"), std::ios::binary)
        .write(reinterpret_cast<const char*>(image.data()), image.size());
    record_and_replay("diskdma 100 timer 3 diskdma 7",
                      {result_line("diskdma", expected_disk(image, 100)), result_line("timer", 3),
                       result_line("diskdma", expected_disk(image, 7))},
                      {"-drive", "file=" + images.file("disk.img") + ",format=raw,if=ide,index=0"});
}

// One instruction count (docs/recording.md): instructions completed. What
// the recording states, what rr_get_guest_instr_count() returns and what
// insn_count counts agree, live and in replay; model.h's count of the
// completed instructions in hp_patch_loop is the oracle for insn_count's.
// QEMU's own plugin API, which counts attempts, is the oracle for the
// boundary rule: it sees one attempt more per round of `patch` (QEMU runs a
// store into the block being run a second time, alone) and, live only, the
// OUT to isa-debug-exit during which the emulator ends.
struct PatchCounts {
    uint64_t recorded = 0, qemu_live = 0, qemu_replay = 0, insn_live = 0, insn_replay = 0, in_loop = 0;
    std::map<std::string, uint64_t> probe_live, probe_replay;
};

uint64_t insn_count_output(const std::string& file) {
    const std::string text = read_file(file);
    unsigned long long n = 0;
    EXPECT_EQ(std::sscanf(text.c_str(), "insn_count: %llu instructions", &n), 1) << file << ": " << text;
    return n;
}

PatchCounts count_patch(uint64_t n) {
    PatchCounts c;
    TempDir dir;
    const std::string rec = dir.file("rec");
    const std::string counter = build_root() + "/tests/qemu-plugins/libcounter.so,what=insns,out=";
    const std::string probe = "probe:cbs=bbe,at=" + std::to_string(guest_symbol("hp_patch_loop_ret")) + ",output=";
    RunResult live = run_with_plugins(guest_args(
        "patch " + std::to_string(n), {"-record-from", ":" + rec, "-plugin", counter + dir.file("qemu-live"), "-panda",
                                       "insn_count:output=" + dir.file("insn-live"), "-panda",
                                       probe + dir.file("probe-live")}));
    EXPECT_EQ(live.exit_status, debug_exit_status(0)) << describe(live);
    EXPECT_EQ(lines_starting_with(live.out, "RESULT "), std::vector<std::string>{result_line("patch", hp_patch_value(n))});
    c.recorded = recorded_instructions(rec);
    RunResult p = run_with_plugins({emulator(), "-replay", rec, "-plugin", counter + dir.file("qemu-replay"), "-panda",
                                    "insn_count:output=" + dir.file("insn-replay"), "-panda",
                                    probe + dir.file("probe-replay")});
    EXPECT_EQ(p.exit_status, 0) << describe(p);
    EXPECT_EQ(lines_starting_with(p.err, "replay verified"), std::vector<std::string>{verified(c.recorded)});
    RunResult ranged = run_with_plugins({emulator(), "-replay", rec, "-panda",
                                         "insn_count:start=" + std::to_string(guest_symbol("hp_patch_loop")) +
                                             ",end=" + std::to_string(guest_symbol("hp_patch_loop_end")) +
                                             ",output=" + dir.file("insn-loop")});
    EXPECT_EQ(ranged.exit_status, 0) << describe(ranged);
    c.qemu_live = read_counts(dir.file("qemu-live")).at("insns");
    c.qemu_replay = read_counts(dir.file("qemu-replay")).at("insns");
    c.insn_live = insn_count_output(dir.file("insn-live"));
    c.insn_replay = insn_count_output(dir.file("insn-replay"));
    c.in_loop = insn_count_output(dir.file("insn-loop"));
    c.probe_live = read_counts(dir.file("probe-live"));
    c.probe_replay = read_counts(dir.file("probe-replay"));
    return c;
}

// A recording replayed with every block on the LLVM engine (docs/llvm.md):
// the same instruction count and RAM hash as recorded, the same console,
// and every block the replay ran was compiled by LLVM.
class ReplayInLlvmMode : public testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(ReplayInLlvmMode, VerifiesAsUnderTcg) {
    const auto& [append, engine] = GetParam();
    Recorded r;
    record(&r, append, {"-cpu", "qemu64,vendor=GenuineIntel"});
    ASSERT_EQ(r.result.exit_status, debug_exit_status(0)) << describe(r.result);
    const uint64_t n = recorded_instructions(r.rec);
    const std::string out = r.dir.file("replay.out"), probe = r.dir.file("probe");
    RunResult p = replay(r.rec, {conout(out), "probe:llvm_count=1,output=" + probe + "," + engine});
    ASSERT_EQ(p.exit_status, 0) << describe(p);
    EXPECT_EQ(lines_starting_with(p.err, "replay verified"), std::vector<std::string>{verified(n)}) << describe(p);
    EXPECT_EQ(read_file(out), read_file(r.dir.file("record.out")));
    auto counts = read_counts(probe);
    EXPECT_GT(counts["llvm_blocks"], 1000u);
    EXPECT_EQ(counts["llvm_bbe"], counts["llvm_blocks"]);
}

INSTANTIATE_TEST_SUITE_P(Workloads, ReplayInLlvmMode,
                         testing::Values(std::make_pair("timer 20", "llvm=1"), std::make_pair("io 500", "llvm=1"),
                                         std::make_pair("fault 200 user 2000", "llvm=1"),
                                         std::make_pair("timer 20", "llvm=1,llvm_helpers=1")));

TEST(RecordReplay, OneInstructionCount) {
    const uint64_t rounds[2] = {1000, 3000};
    PatchCounts c[2];
    for (int i = 0; i < 2; i++) {
        SCOPED_TRACE("patch " + std::to_string(rounds[i]));
        c[i] = count_patch(rounds[i]);
        EXPECT_EQ(c[i].in_loop, hp_patch_insns(rounds[i]));
        EXPECT_EQ(c[i].insn_replay, c[i].recorded);
        EXPECT_EQ(c[i].insn_live, c[i].recorded + 1);  // the OUT the emulator ends in
        EXPECT_EQ(c[i].qemu_live, c[i].qemu_replay + 1);
        EXPECT_EQ(c[i].probe_live.at("rr_at_seen"), 1u);
        EXPECT_EQ(c[i].probe_replay.at("rr_at_seen"), 1u);
        EXPECT_EQ(c[i].probe_live.at("rr_at"), c[i].probe_replay.at("rr_at"));
        EXPECT_GT(c[i].probe_live.at("rr_at"), hp_patch_insns(rounds[i]));
    }
    // Attempts QEMU ran again: the same before the workload (the firmware's),
    // plus one per round.
    EXPECT_EQ((c[1].qemu_replay - c[1].recorded) - (c[0].qemu_replay - c[0].recorded), rounds[1] - rounds[0]);
}

// Every guest memory access (PC, address, size, direction) is the same in
// the recorded run and in replay.
TEST(RecordReplay, SameMemoryAccessesAsRecorded) {
    Recorded r;
    r.rec = r.dir.file("rec");
    std::vector<std::string> args = guest_args("io 200 timer 5");
    args.insert(args.end(), {"-record-from", ":" + r.rec, "-panda", "memhash:output=" + r.dir.file("record.mem")});
    r.result = run_with_plugins(args);
    ASSERT_EQ(r.result.exit_status, debug_exit_status(0)) << describe(r.result);
    RunResult p = replay(r.rec, {"memhash:output=" + r.dir.file("replay.mem")});
    ASSERT_EQ(p.exit_status, 0) << describe(p);
    const auto recorded = read_counts(r.dir.file("record.mem"));
    EXPECT_GT(recorded.at("mem_reads"), 10000u);
    EXPECT_EQ(read_counts(r.dir.file("replay.mem")), recorded);
}

// The guest brackets the region to record with hypercalls; the host's
// policy (allow=record) lets it, and names the folder.
TEST(RecordReplay, GuestBracketsTheRegionWithHypercalls) {
    TempDir dir;
    const std::string rec = dir.file("bracket");
    std::vector<std::string> args = guest_args("count 5000 bracket 10 count 7000");
    args.insert(args.end(), {"-device", "hypanda-hypercall,allow=record,record=" + rec, "-panda",
                             "memhash:output=" + dir.file("record.mem")});
    RunResult r = run_with_plugins(args);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "BRACKET"), std::vector<std::string>{"BRACKET 0x0000000000000000 "
                                                                              "0x0000000000000000 ticks 10"});
    EXPECT_EQ(lines_starting_with(r.out, "RESULT "),
              (std::vector<std::string>{result_line("count", expected_count(5000)), result_line("bracket", expected_count(10)),
                                        result_line("count", expected_count(7000))}));
    const uint64_t n = recorded_instructions(rec);
    // The whole run is three times the count loop's 3N+3 instructions and
    // more; the bracket holds the timer workload and a 10-step loop only.
    EXPECT_GT(n, 3u * 10 + 3);
    EXPECT_LT(n, 3u * 5000);
    RunResult p = replay(rec, {"memhash:output=" + dir.file("replay.mem")});
    ASSERT_EQ(p.exit_status, 0) << describe(p);
    EXPECT_EQ(lines_starting_with(p.err, "replay verified"), std::vector<std::string>{verified(n)}) << describe(p);
    EXPECT_GT(read_counts(dir.file("replay.mem")).at("mem_reads"), 0u);

    // Without allow=record the guest is refused, and nothing is recorded.
    args = guest_args("bracket 2");
    args.insert(args.end(), {"-device", "hypanda-hypercall,record=" + dir.file("refused")});
    r = run_with_plugins(args);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "BRACKET"),
              std::vector<std::string>{"BRACKET 0x0000000080000002 0x0000000080000002 ticks 2"});
    EXPECT_NE(access(dir.file("refused").c_str(), F_OK), 0);
}

// A guest ends only what it began: with the host recording from the start
// (-record-from) and a policy that lets the guest record, the guest's
// BEGIN finds a recording in progress and its END is refused, so the
// host's recording runs on to the end of the run.
TEST(RecordReplay, GuestCannotEndTheHostsRecording) {
    TempDir dir;
    const std::string rec = dir.file("host");
    std::vector<std::string> args = guest_args("bracket 2 count 5000");
    args.insert(args.end(), {"-device", "hypanda-hypercall,allow=record,record=" + dir.file("guest"),
                             "-record-from", ":" + rec});
    RunResult r = run_with_plugins(args);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << describe(r);
    EXPECT_EQ(lines_starting_with(r.out, "BRACKET"),
              std::vector<std::string>{"BRACKET 0x0000000080000003 0x0000000080000002 ticks 2"});
    EXPECT_NE(r.err.find("the guest's END_RECORD hypercall: recording " + rec +
                         " was begun by the host, not the guest; it goes on"),
              std::string::npos)
        << describe(r);
    EXPECT_NE(access(dir.file("guest").c_str(), F_OK), 0);
    // The recording spans the count loop after the refused END: 3N+3 for N=5000.
    const uint64_t n = recorded_instructions(rec);
    EXPECT_GT(n, 3u * 5000 + 3);
    RunResult p = replay(rec, {});
    ASSERT_EQ(p.exit_status, 0) << describe(p);
    EXPECT_EQ(lines_starting_with(p.err, "replay verified"), std::vector<std::string>{verified(n)}) << describe(p);
}

// `hypanda replay`: the emulator underneath, its outcome as text or JSON.
TEST(RecordReplay, HypandaReplayCommand) {
    Recorded r;
    record(&r, "count 3000 timer 3");
    ASSERT_EQ(r.result.exit_status, debug_exit_status(0)) << describe(r.result);
    const uint64_t n = recorded_instructions(r.rec);
    const std::string tool = build_root() + "/bin/hypanda";
    // --verify: the files checked, a replay without plugins, one verdict line.
    Child verify({tool, "replay", r.rec, "--verify"}, plugin_env());
    RunResult v = verify.wait(kLimit);
    EXPECT_EQ(v.exit_status, 0) << describe(v);
    const std::string manifest_text = read_file(r.rec + "/manifest.json");
    const std::string hash = nlohmann::json::parse(manifest_text).at("ram_xxh64").get<std::string>();
    EXPECT_EQ(v.out, r.rec + ": verified: " + std::to_string(n) + " instructions, RAM hash " + hash + " ok\n");
    EXPECT_EQ(v.err, "");

    // The emulator's result file, read as the tool reads it.
    Child direct({emulator(), "-replay", r.rec, "-replay-result", r.dir.file("result.json")}, plugin_env());
    RunResult d = direct.wait(kLimit);
    EXPECT_EQ(d.exit_status, 0) << describe(d);
    rr::ReplayResult result;
    std::string rerr;
    ASSERT_TRUE(rr::replay_result_from_json(read_file(r.dir.file("result.json")), &result, &rerr)) << rerr;
    EXPECT_EQ(result, (rr::ReplayResult{r.rec, true, n, n, ""}));

    Child json({tool, "replay", r.rec, "--plugin", conout(r.dir.file("cli.out")), "--json"}, plugin_env());
    RunResult j = json.wait(kLimit);
    ASSERT_EQ(j.exit_status, 0) << describe(j);
    const auto out = nlohmann::json::parse(j.out);
    EXPECT_EQ(out.at("verified"), true);
    EXPECT_EQ(out.at("instructions"), n);
    EXPECT_EQ(out.at("errors"), nlohmann::json::array());
    EXPECT_EQ(out.at("plugins"), nlohmann::json::array({conout(r.dir.file("cli.out"))}));
    EXPECT_EQ(out.at("plugin_output"), "stderr");
    EXPECT_EQ(read_file(r.dir.file("cli.out")), read_file(r.dir.file("record.out")));

    // A plugin that prints on stdout: with --json, stdout is the JSON
    // document alone (it parses whole) and the plugin's line is on stderr.
    Child printing({tool, "replay", r.rec, "--plugin", "insn_count", "--json"}, plugin_env());
    RunResult pj = printing.wait(kLimit);
    ASSERT_EQ(pj.exit_status, 0) << describe(pj);
    const auto doc = nlohmann::json::parse(pj.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << pj.out;
    EXPECT_EQ(doc.at("verified"), true);
    EXPECT_EQ(lines_starting_with(pj.err, "insn_count: ").size(), 1u) << describe(pj);

    Child bad({tool, "replay", r.dir.file("none"), "--json"}, plugin_env());
    RunResult b = bad.wait(kLimit);
    EXPECT_EQ(b.exit_status, 1) << describe(b);
    EXPECT_EQ(nlohmann::json::parse(b.out).at("errors"),
              nlohmann::json::array({"hypanda-system-x86_64: -replay " + r.dir.file("none") +
                                     ": cannot open the recording's folder: No such file or directory"}));
    RunResult usage = run({tool, "replay", r.rec, "--verify", "--plugin", "x"}, kLimit);
    EXPECT_EQ(usage.exit_status, 2);
    EXPECT_EQ(usage.err, "hypanda: replay --verify only checks the recording; it takes no --plugin\n");
}

// From the monitor: HMP begin_record while the guest is stopped, cont,
// end_record while it runs (wherever it is then), quit; the replay reaches
// exactly the recorded end. QMP's commands refuse what they must.
TEST(RecordReplay, MonitorBeginsAndEndsARecording) {
    TempDir dir;
    const std::string rec = dir.file("mon-rec");
    std::vector<std::string> args = guest_args("count 1000000000000");  // hours: ended by quit
    args.insert(args.end(), {"-S", "-monitor", "unix:" + dir.file("hmp") + ",server=on,wait=off", "-qmp",
                             "unix:" + dir.file("qmp") + ",server=on,wait=off"});
    Child child(args, plugin_env());
    Hmp hmp(dir.file("hmp"));
    ASSERT_TRUE(hmp.connected());
    Qmp qmp(dir.file("qmp"));
    ASSERT_TRUE(qmp.connected());
    EXPECT_EQ(qmp.execute("end-record")["error"]["desc"], "end_record: nothing is being recorded");
    EXPECT_EQ(qmp.execute("begin-record", {{"name", 7}})["error"]["desc"],
              "begin-record: 'name' must be a string");
    // The vCPU starts it before the monitor answers, so errors reach the monitor.
    EXPECT_EQ(hmp.command("begin_record /nonexistent-folder/rec"),
              "error: begin_record: /nonexistent-folder/rec: cannot create the recording's folder: No such file or "
              "directory\n");
    EXPECT_EQ(hmp.command("begin_record " + rec), "recording " + rec + ": started\n");
    EXPECT_EQ(qmp.execute("begin-record", {{"name", rec + "2"}})["error"]["desc"],
              "begin_record: already recording " + rec);
    hmp.command("cont");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(hmp.command("end_record"), "recording ended\n");
    EXPECT_EQ(hmp.command("end_record"), "error: end_record: nothing is being recorded\n");
    hmp.command("quit");
    RunResult r = child.wait(kLimit);
    EXPECT_EQ(r.exit_status, 0) << describe(r);
    const uint64_t n = recorded_instructions(rec);
    EXPECT_GT(n, 0u);
    RunResult p = replay(rec, {});
    ASSERT_EQ(p.exit_status, 0) << describe(p);
    EXPECT_EQ(lines_starting_with(p.err, "replay verified"), std::vector<std::string>{verified(n)}) << describe(p);
}

// A log whose first port read names another port: replay stops there and
// says where, what this run did and what the recording has.
TEST(RecordReplay, DivergenceSaysWhereAndWhat) {
    Recorded r;
    record(&r, "io 10");
    ASSERT_EQ(r.result.exit_status, debug_exit_status(0)) << describe(r.result);
    const std::string log_bytes = read_file(r.rec + "/nondet.log");
    const std::vector<uint8_t> bytes(log_bytes.begin(), log_bytes.end());
    std::vector<rr::Event> events;
    rr::LogStats stats;
    std::string err;
    ASSERT_TRUE(rr::read_log(bytes.data(), bytes.size(), "nondet.log", rr::kArchX86_64, &stats, &events, &err))
        << err;
    rr::Event* first = nullptr;
    for (rr::Event& e : events) {
        if (e.kind == rr::Kind::PortRead) {
            first = &e;
            break;
        }
    }
    ASSERT_NE(first, nullptr);
    const rr::Event original = *first;
    first->addr ^= 1;
    rewrite_log(r.rec, events);
    rr::Manifest m;
    ASSERT_TRUE(rr::manifest_from_json(read_file(r.rec + "/manifest.json"), "x86_64", &m, &err)) << err;

    const std::string result_file = r.dir.file("result.json");
    Child child({emulator(), "-replay-result", result_file, "-replay", r.rec}, plugin_env());
    RunResult p = child.wait(kLimit);
    EXPECT_EQ(p.exit_status, 1) << describe(p);
    const auto lines = lines_starting_with(p.err, "hypanda-system-x86_64: replay ");
    ASSERT_EQ(lines.size(), 1u) << describe(p);
    // The machine-readable outcome says the same (rr/result.h).
    rr::ReplayResult result;
    ASSERT_TRUE(rr::replay_result_from_json(read_file(result_file), &result, &err)) << err;
    EXPECT_FALSE(result.verified);
    EXPECT_EQ(result.recording, r.rec);
    EXPECT_EQ(result.instructions, original.icount);
    EXPECT_EQ(result.recorded, m.instructions);
    EXPECT_EQ("hypanda-system-x86_64: " + result.error, lines[0]);
    auto port = [](uint64_t v) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "port-read (call site 1, port 0x%llx, 1 bytes)",
                      static_cast<unsigned long long>(v));
        return std::string(buf);
    };
    const std::string head = "hypanda-system-x86_64: replay " + r.rec + " diverged at instruction " +
                             std::to_string(original.icount) + " (PC 0x";
    const std::string tail = "): this run does " + port(original.addr) + "; the recording has " +
                             port(original.addr ^ 1) + " at instruction " + std::to_string(original.icount);
    EXPECT_EQ(lines[0].substr(0, head.size()), head) << lines[0];
    ASSERT_GE(lines[0].size(), head.size() + 16 + tail.size()) << lines[0];
    EXPECT_EQ(lines[0].substr(head.size() + 16), tail) << lines[0];

    // hypanda replay --verify says the same, in one line.
    RunResult v = run({build_root() + "/bin/hypanda", "replay", r.rec, "--verify"}, kLimit);
    EXPECT_EQ(v.exit_status, 1) << describe(v);
    EXPECT_EQ(v.out, "");
    EXPECT_EQ(v.err, "hypanda: replay " + r.rec + ": not verified: " + result.error + "\n");
    // And a log whose checksum no longer matches is named before any replay.
    std::ofstream(r.rec + "/nondet.log", std::ios::app) << 'x';
    RunResult c = run({build_root() + "/bin/hypanda", "replay", r.rec, "--verify"}, kLimit);
    EXPECT_EQ(c.exit_status, 1) << describe(c);
    EXPECT_EQ(c.out, "");
    EXPECT_EQ(c.err.rfind("hypanda: replay " + r.rec + ": nondet.log: ", 0), 0u) << c.err;
    EXPECT_EQ(std::count(c.err.begin(), c.err.end(), '\n'), 1) << c.err;
}

// A machine with a device recording cannot see is refused before anything
// is written, with one line naming the device and what to do instead.
TEST(RecordReplay, RefusesMachinesItCannotRecord) {
    TempDir dir;
    std::ofstream(dir.file("a.img")) << std::string(4096, '\0');
    const std::string rec = dir.file("rec");
    RunResult ahci = run_with_plugins(guest_args(
        "count 1", {"-device", "ahci,id=sata", "-drive", "if=none,id=d,format=raw,file=" + dir.file("a.img"), "-device",
                    "ide-hd,bus=sata.0,drive=d", "-record-from", ":" + rec}));
    EXPECT_EQ(ahci.exit_status, 1);
    EXPECT_EQ(ahci.err,
              "hypanda-system-x86_64: -record-from: cannot record this machine: device ide-hd: an AHCI controller "
              "writes its command list and received FISes through long-lived mappings recording does not see yet; "
              "put the disk on virtio-blk or the IDE controller (if=ide, libvirt: bus='virtio' or bus='ide')\n");
    RunResult shm = run_with_plugins(guest_args(
        "count 1", {"-object", "memory-backend-ram,id=m,size=1M", "-device", "ivshmem-plain,memdev=m,id=shm",
                    "-record-from", ":" + rec}));
    EXPECT_EQ(shm.exit_status, 1);
    EXPECT_EQ(shm.err, "hypanda-system-x86_64: -record-from: cannot record this machine: device ivshmem-plain shm: "
                       "its shared memory is written by other processes\n");
    struct stat st;
    EXPECT_NE(stat(rec.c_str(), &st), 0) << "nothing is written";
    // The same machine without the disk on AHCI records.
    RunResult plain = run_with_plugins(guest_args("count 1", {"-device", "ahci,id=sata", "-record-from", ":" + rec}));
    EXPECT_EQ(plain.exit_status, debug_exit_status(0)) << describe(plain);
}

TEST(RecordReplay, BadRecordingsGetOneErrorLine) {
    Recorded r;
    record(&r, "count 1000");
    ASSERT_EQ(r.result.exit_status, debug_exit_status(0)) << describe(r.result);
    const std::string log = read_file(r.rec + "/nondet.log");
    std::ofstream(r.rec + "/nondet.log", std::ios::binary).write(log.data(), log.size() - 2);
    RunResult p = replay(r.rec, {});
    EXPECT_EQ(p.exit_status, 1) << describe(p);
    EXPECT_EQ(lines_starting_with(p.err, "hypanda-system-x86_64: -replay "),
              std::vector<std::string>{"hypanda-system-x86_64: -replay " + r.rec + ": nondet.log: " +
                                       std::to_string(log.size() - 2) + " bytes, the manifest says " +
                                       std::to_string(log.size()) + " (truncated)"})
        << describe(p);

    RunResult missing = replay(r.dir.file("nothing-here"), {});
    EXPECT_EQ(missing.exit_status, 1) << describe(missing);
    EXPECT_EQ(missing.err, "hypanda-system-x86_64: -replay " + r.dir.file("nothing-here") + ": cannot open the recording's folder: No such file or directory\n");
}

TEST(RecordReplay, RefusesToOverwriteARecording) {
    Recorded r;
    record(&r, "count 1000");
    ASSERT_EQ(r.result.exit_status, debug_exit_status(0)) << describe(r.result);
    record(&r, "count 1000");
    EXPECT_EQ(r.result.exit_status, 1) << describe(r.result);
    EXPECT_EQ(r.result.err, "hypanda-system-x86_64: -record-from: " + r.rec +
                                " exists already; recordings are never overwritten\n");
}

}  // namespace
}  // namespace hypanda::test

namespace hypanda::test {
namespace {

// A small deterministic generator (xorshift64), so each run tries the
// same mutants and a finding reproduces.
struct Xorshift {
    uint64_t s;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

}  // namespace

// The snapshot's CPU state goes to QEMU's vmstate loader, which trusts
// what it reads more than a recording deserves: mutants of a real one
// (bytes flipped, cut short, lengthened, the feature-word count changed),
// each in a recording whose checksums agree, must replay or end in one
// error line; never a crash, a hang or a second line.
TEST(RecordReplay, MutatedCpuStateEndsInOneLineOrReplays) {
    Recorded r;
    record(&r, "count 300 timer 2");
    ASSERT_EQ(r.result.exit_status, debug_exit_status(0)) << describe(r.result);
    const std::string file = read_file(r.rec + "/snapshot.bin");
    const std::vector<uint8_t> original(file.begin(), file.end());
    rr::SnapshotReader reader;
    std::string err;
    ASSERT_TRUE(reader.open(original.data(), original.size(), "snapshot.bin", rr::kArchX86_64, &err)) << err;
    std::vector<uint8_t> ram(reader.ram_bytes());
    ASSERT_TRUE(reader.read_ram(ram.data(), &err)) << err;
    rr::MachineState machine;
    ASSERT_TRUE(rr::parse_machine_state(reader.cpu_state(), "snapshot.bin", &machine, &err)) << err;
    rr::Manifest manifest;
    ASSERT_TRUE(rr::manifest_from_json(read_file(r.rec + "/manifest.json"), "x86_64", &manifest, &err)) << err;
    const std::vector<uint8_t> cpu = machine.cpu;
    const size_t header = 4 + 8 * (cpu[0] | cpu[1] << 8);  // the feature words before QEMU's vmstate
    ASSERT_LT(header, cpu.size());

    Xorshift rng{0x9e3779b97f4a7c15ull};
    int replayed = 0, refused = 0;
    for (int i = 0; i < 48; i++) {
        std::vector<uint8_t> m = cpu;
        std::string what;
        const size_t at = header + rng.next() % (cpu.size() - header);
        switch (i % 6) {
        case 0:
        case 1:
            m[at] ^= static_cast<uint8_t>(1u << (rng.next() % 8));
            what = "bit flipped at " + std::to_string(at);
            break;
        case 2:
            for (size_t k = at; k < m.size() && k < at + 8; k++) {
                m[k] = 0xff;
            }
            what = "8 bytes of 0xff at " + std::to_string(at);
            break;
        case 3:
            m.resize(at);
            what = "cut at " + std::to_string(at);
            break;
        case 4:
            for (int k = 0; k < 64; k++) {
                m.push_back(static_cast<uint8_t>(rng.next()));
            }
            what = "64 bytes appended";
            break;
        default:
            m[0] = static_cast<uint8_t>(rng.next());
            what = "feature-word count " + std::to_string(m[0]);
            break;
        }
        const std::string rec = r.dir.file("mutant" + std::to_string(i));
        ASSERT_EQ(mkdir(rec.c_str(), 0700), 0);
        rr::SnapshotWriter w;
        ASSERT_TRUE(w.open(rec + "/snapshot.bin", rr::kArchX86_64, ram.size(),
                           rr::machine_state_bytes({machine.blocks, m}), &err))
            << err;
        w.write_ram(ram.data(), ram.size());
        ASSERT_TRUE(w.finish(&err)) << err;
        rr::Manifest mm = manifest;
        mm.snapshot = {rr::kSnapshotFile, w.bytes(), w.xxh64()};
        std::ofstream(rec + "/manifest.json") << rr::manifest_to_json(mm);
        ASSERT_EQ(link((r.rec + "/nondet.log").c_str(), (rec + "/nondet.log").c_str()), 0);

        RunResult p = replay(rec, {});
        ASSERT_FALSE(p.timed_out) << what << ": " << describe(p);
        ASSERT_TRUE(p.exit_status == 0 || p.exit_status == 1) << what << ": " << describe(p);
        std::vector<std::string> errors;
        std::istringstream lines(p.err);
        for (std::string line; std::getline(lines, line);) {
            if (line.find(": info: ") == std::string::npos && line.find(": warning: ") == std::string::npos &&
                line.rfind("replay verified", 0) != 0) {
                errors.push_back(line);
            }
        }
        if (p.exit_status == 0) {
            replayed++;
            EXPECT_EQ(errors, std::vector<std::string>{}) << what << ": " << describe(p);
        } else {
            refused++;
            ASSERT_EQ(errors.size(), 1u) << what << ": " << describe(p);
            // Refused at load ("-replay REC: ..."), or loaded and then
            // diverged from the log ("replay REC ...").
            EXPECT_TRUE(errors[0].rfind("hypanda-system-x86_64: -replay " + rec + ": ", 0) == 0 ||
                        errors[0].rfind("hypanda-system-x86_64: replay " + rec + " ", 0) == 0 ||
                        errors[0].rfind("hypanda-system-x86_64: replay " + rec + ": ", 0) == 0)
                << what << ": " << errors[0];
        }
    }
    EXPECT_GT(refused, 0);  // cut and lengthened states never load
    std::printf("mutated CPU states: %d replayed, %d refused\n", replayed, refused);
}

}  // namespace hypanda::test
