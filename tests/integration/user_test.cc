// linux-user mode: hypanda-x86_64 runs tests/user/sysprog (a static program
// whose system calls are known in advance) with plugins, and the
// user_before_syscall / user_after_syscall callbacks must see exactly those
// calls, arguments, guest buffers and return values. The instruction-level
// syscalls plugin, in the same run, must see the same system-call numbers
// at SYSCALL instructions.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <map>
#include <sstream>

#include "elf_image.h"
#include "run.h"

namespace hypanda::test {
namespace {

constexpr std::chrono::seconds kLimit{60};

std::string user_emulator() { return build_root() + "/bin/hypanda-x86_64"; }
std::string sysprog() { return build_root() + "/tests/user/sysprog"; }
std::string test_plugin(const std::string& name) {
    return build_root() + "/tests/plugins/panda_" + name + ".so";
}

TEST(LinuxUser, SyscallCallbacksSeeEveryCallWithArgumentsAndResults) {
    ElfImage prog = ElfImage::load(sysprog());
    ASSERT_FALSE(prog.symbols.empty()) << "cannot read " << sysprog();
    TempDir dir;
    RunResult r = run({user_emulator(), "-panda-plugin", test_plugin("usersys"), "-panda-arg",
                       "usersys:file=" + dir.file("log"), sysprog()},
                      kLimit);
    // The program's own exit status (7: every result it checked was right).
    ASSERT_EQ(r.exit_status, 7) << describe(r);
    EXPECT_EQ(r.out, "hypanda user\ndone\n");

    auto at = [&](const char* symbol) { return std::to_string(prog.symbols.at(symbol)); };
    const std::string expected =
        "before 1 1 " + at("hello") + " 13 0 str=\"hypanda user\\n\"\n"
        "after 1 ret=13\n"
        "before 257 -100 " + at("path") + " 0 0 str=\"/nonexistent/hypanda\"\n"
        "after 257 ret=-2\n"
        "before 3 1000 0 0 0\n"
        "after 3 ret=-9\n"
        "before 1000 1 2 3 4\n"
        "after 1000 ret=-38\n"
        "before 63 " + at("uname_buf") + " 0 0 0\n"
        "after 63 ret=0 str=\"Linux\" phys=none\n"
        "before 1 1 " + at("done") + " 5 0 str=\"done\\n\"\n"
        "after 1 ret=5\n"
        // exit_group does not return: no "after" line.
        "before 231 7 0 0 0\n"
        "uninit\n";
    EXPECT_EQ(read_file(dir.file("log")), expected);
}

TEST(LinuxUser, InstructionCallbacksSeeTheSameSystemCalls) {
    ElfImage prog = ElfImage::load(sysprog());
    ASSERT_FALSE(prog.symbols.empty()) << "cannot read " << sysprog();
    TempDir dir;
    // The shipped syscalls plugin, found in <bindir>/panda_plugins.
    RunResult r = run({user_emulator(), "-panda", "syscalls:file=" + dir.file("log"), sysprog()},
                      kLimit);
    ASSERT_EQ(r.exit_status, 7) << describe(r);
    std::vector<std::string> lines = lines_starting_with(read_file(dir.file("log")), "PC=");
    const std::vector<uint64_t> numbers = {1, 257, 3, 1000, 63, 1, 231};
    ASSERT_EQ(lines.size(), numbers.size()) << read_file(dir.file("log"));
    for (size_t i = 0; i < lines.size(); i++) {
        uint64_t pc = 0, num = 0;
        ASSERT_EQ(std::sscanf(lines[i].c_str(), "PC=%" SCNx64 ", SYSCALL=%" SCNx64, &pc, &num), 2)
            << lines[i];
        EXPECT_EQ(num, numbers[i]) << lines[i];
        EXPECT_EQ(prog.bytes_at(pc, 2), (std::vector<uint8_t>{0x0f, 0x05})) << lines[i];
    }
}

// "name value" lines into a map.
std::map<std::string, uint64_t> counts(const std::string& text) {
    std::map<std::string, uint64_t> m;
    std::istringstream in(text);
    std::string name;
    uint64_t value;
    while (in >> name >> value) {
        m[name] = value;
    }
    return m;
}

TEST(LinuxUser, BlockAndInstructionCountsAgreeWithQemusPluginApi) {
    TempDir dir;
    RunResult r = run({user_emulator(), "-plugin",
                       build_root() + "/tests/qemu-plugins/libcounter.so,out=" + dir.file("qemu"),
                       "-panda-plugin", test_plugin("probe"), "-panda-arg", "probe:cbs=bbe+insn",
                       "-panda-arg", "probe:output=" + dir.file("probe"), sysprog()},
                      kLimit);
    ASSERT_EQ(r.exit_status, 7) << describe(r);
    auto ours = counts(read_file(dir.file("probe")));
    auto qemu = counts(read_file(dir.file("qemu")));
    ASSERT_GT(qemu["insns"], 50u) << read_file(dir.file("qemu"));
    EXPECT_EQ(ours["bbe"], qemu["blocks"]);
    EXPECT_EQ(ours["insn"], qemu["insns"]);
}

// The program's own loads and stores: 65 loads and 65 stores copying the
// system name, and one more load checking the copy's first byte. QEMU's
// plugin API, in the same run, sees the same accesses (count and hash of
// pc, address, size, direction).
TEST(LinuxUser, MemoryCallbacksAgreeWithQemusPluginApi) {
    TempDir dir;
    RunResult r = run({user_emulator(), "-plugin",
                       build_root() + "/tests/qemu-plugins/libcounter.so,what=mem,out=" + dir.file("qemu"),
                       "-panda-plugin", test_plugin("probe"), "-panda-arg", "probe:cbs=vmem",
                       "-panda-arg", "probe:output=" + dir.file("probe"), sysprog()},
                      kLimit);
    ASSERT_EQ(r.exit_status, 7) << describe(r);
    EXPECT_EQ(r.err, "");
    auto ours = counts(read_file(dir.file("probe")));
    auto qemu = counts(read_file(dir.file("qemu")));
    EXPECT_EQ(ours["mem_reads"], 66u);
    EXPECT_EQ(ours["mem_writes"], 65u);
    EXPECT_EQ(ours["mem_reads"], qemu["mem_reads"]);
    EXPECT_EQ(ours["mem_writes"], qemu["mem_writes"]);
    EXPECT_EQ(ours["mem_hash"], qemu["mem_hash"]);
    EXPECT_EQ(ours["mem_helper"], 0u);
}

TEST(LinuxUser, UnknownPluginIsOneErrorLine) {
    RunResult r = run({user_emulator(), "-panda", "nosuch", sysprog()}, kLimit);
    ASSERT_EQ(r.exit_status, 1) << describe(r);
    EXPECT_EQ(lines_starting_with(r.err, "").size(), 1u) << r.err;
    EXPECT_NE(r.err.find("nosuch"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace hypanda::test
