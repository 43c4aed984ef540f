// The taint2 pass (plugins/taint2/pass.h) on a block shaped like the
// lifter's: instrumented, compiled by LLVM's JIT and run on a CPU state
// whose registers are labelled; every register's labels and compute
// numbers after the run are worked out by hand from the IR below.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>
#include <llvm/AsmParser/Parser.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <cstring>
#include <set>

#include "pass.h"
#include "taint_state.h"

namespace {

hypanda::taint2::TaintState* state;

}  // namespace

extern "C" {
void taint2_rt_copy(uint8_t ds, uint64_t d, uint8_t ss, uint64_t s, uint64_t n) {
    using hypanda::taint2::Space;
    state->copy({static_cast<Space>(ds), d}, {static_cast<Space>(ss), s}, n);
}
void taint2_rt_clear(uint8_t ds, uint64_t d, uint64_t n) {
    state->clear({static_cast<hypanda::taint2::Space>(ds), d}, n);
}
void taint2_rt_parallel(uint8_t ds, uint64_t d, uint8_t as, uint64_t a, uint8_t bs, uint64_t b, uint64_t n) {
    using hypanda::taint2::Space;
    state->parallel({static_cast<Space>(ds), d}, {static_cast<Space>(as), a}, {static_cast<Space>(bs), b}, n);
}
void taint2_rt_mix(uint8_t ds, uint64_t d, uint64_t n, uint8_t as, uint64_t a, uint64_t na, uint8_t bs, uint64_t b,
                   uint64_t nb) {
    using hypanda::taint2::Space;
    state->mix({static_cast<Space>(ds), d}, n, {static_cast<Space>(as), a}, na, {static_cast<Space>(bs), b}, nb);
}
}

namespace hypanda::taint2 {
namespace {

// CPU state: rax at 0, rbx at 8; results stored at 16..63.
constexpr const char* kBlock = R"IR(
define i64 @tb0(i8* noalias %env) {
entry:
  %p0 = getelementptr inbounds i8, i8* %env, i64 0
  %r0 = bitcast i8* %p0 to i64*
  %rax = load i64, i64* %r0
  %p1 = getelementptr inbounds i8, i8* %env, i64 8
  %r1 = bitcast i8* %p1 to i64*
  %rbx = load i64, i64* %r1
  %x = xor i64 %rax, %rbx
  %lo = trunc i64 %x to i8
  %w = zext i8 %lo to i64
  %s = add i64 %w, 5
  %p2 = getelementptr inbounds i8, i8* %env, i64 16
  %r2 = bitcast i8* %p2 to i64*
  store i64 %s, i64* %r2
  %c = icmp ult i64 %rbx, 10
  br i1 %c, label %a, label %b
a:
  br label %join
b:
  br label %join
join:
  %v = phi i64 [ %rax, %a ], [ %rbx, %b ]
  %p3 = getelementptr inbounds i8, i8* %env, i64 24
  %r3 = bitcast i8* %p3 to i64*
  store i64 %v, i64* %r3
  %sx = sext i8 %lo to i32
  %p4 = getelementptr inbounds i8, i8* %env, i64 32
  %r4 = bitcast i8* %p4 to i32*
  store i32 %sx, i32* %r4
  %t = select i1 %c, i64 %rbx, i64 7
  %p5 = getelementptr inbounds i8, i8* %env, i64 40
  %r5 = bitcast i8* %p5 to i64*
  store i64 %t, i64* %r5
  br label %loop
loop:
  %i = phi i64 [ 0, %join ], [ %i1, %loop ]
  %pa = phi i64 [ %rax, %join ], [ %pb, %loop ]
  %pb = phi i64 [ %rbx, %join ], [ %pa, %loop ]
  %i1 = add i64 %i, 1
  %done = icmp eq i64 %i1, 3
  br i1 %done, label %out, label %loop
out:
  %p6 = getelementptr inbounds i8, i8* %env, i64 48
  %r6 = bitcast i8* %p6 to i64*
  store i64 %pa, i64* %r6
  %p7 = getelementptr inbounds i8, i8* %env, i64 56
  %r7 = bitcast i8* %p7 to i64*
  store i64 %pb, i64* %r7
  ret i64 0
}
)IR";

std::set<Label> labels_at(const TaintState& t, uint64_t env_offset) {
    const LabelSet* s = t.get({Space::kEnv, env_offset}).labels;
    return s == nullptr ? std::set<Label>{} : std::set<Label>(s->labels().begin(), s->labels().end());
}

TEST(Taint2Pass, RegistersCarryTheLabelsAndNumbersWorkedOutFromTheBlock) {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto context = std::make_unique<llvm::LLVMContext>();
    llvm::SMDiagnostic diag;
    std::unique_ptr<llvm::Module> module = llvm::parseAssemblyString(kBlock, diag, *context);
    ASSERT_NE(module, nullptr) << diag.getMessage().str();

    auto jit = llvm::orc::LLJITBuilder().create();
    ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
    module->setDataLayout((*jit)->getDataLayout());
    const InstrumentStats stats = instrument(*module->getFunction("tb0"));
    std::string broken;
    llvm::raw_string_ostream why(broken);
    ASSERT_FALSE(llvm::verifyModule(*module, &why)) << broken;
    EXPECT_EQ(stats.unfollowed, 0u);
    EXPECT_EQ(stats.values, 31u);  // every non-void instruction of the block: 13, 9, 5 and 4

    llvm::orc::MangleAndInterner mangle((*jit)->getExecutionSession(), (*jit)->getDataLayout());
    llvm::orc::SymbolMap runtime;
    auto add = [&](const char* name, void* fn) {
        runtime[mangle(name)] = llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(fn),
                                                         llvm::JITSymbolFlags::Exported);
    };
    add("taint2_rt_copy", reinterpret_cast<void*>(&taint2_rt_copy));
    add("taint2_rt_clear", reinterpret_cast<void*>(&taint2_rt_clear));
    add("taint2_rt_parallel", reinterpret_cast<void*>(&taint2_rt_parallel));
    add("taint2_rt_mix", reinterpret_cast<void*>(&taint2_rt_mix));
    ASSERT_FALSE(static_cast<bool>((*jit)->getMainJITDylib().define(llvm::orc::absoluteSymbols(runtime))));
    ASSERT_FALSE(static_cast<bool>(
        (*jit)->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(context)))));
    auto sym = (*jit)->lookup("tb0");
    ASSERT_TRUE(static_cast<bool>(sym)) << llvm::toString(sym.takeError());
    auto* block = reinterpret_cast<uint64_t (*)(uint8_t*)>(sym->getAddress());

    TaintState t;
    state = &t;
    t.label_positional({Space::kEnv, 0}, 8, 0);    // rax: byte k {k}
    t.label_positional({Space::kEnv, 8}, 8, 100);  // rbx: byte k {100 + k}
    uint8_t env[64] = {};
    const uint64_t rax = 0x1122334455667788, rbx = 3;
    std::memcpy(env, &rax, 8);
    std::memcpy(env + 8, &rbx, 8);
    EXPECT_EQ(block(env), 0u);

    // The values, as the IR computes them (rbx < 10: the phi takes rax,
    // the select rbx).
    uint64_t rcx = 0, rdx = 0, sel = 0, pa = 0, pb = 0;
    uint32_t sx = 0;
    std::memcpy(&rcx, env + 16, 8);
    std::memcpy(&rdx, env + 24, 8);
    std::memcpy(&sx, env + 32, 4);
    std::memcpy(&sel, env + 40, 8);
    std::memcpy(&pa, env + 48, 8);
    std::memcpy(&pb, env + 56, 8);
    EXPECT_EQ(rcx, ((rax ^ rbx) & 0xff) + 5);
    EXPECT_EQ(rdx, rax);
    EXPECT_EQ(sx, static_cast<uint32_t>(static_cast<int32_t>(static_cast<int8_t>((rax ^ rbx) & 0xff))));
    EXPECT_EQ(sel, rbx);
    EXPECT_EQ(pa, rax);  // swapped on each of two back edges
    EXPECT_EQ(pb, rbx);

    // The taint: s = zext(trunc(rax ^ rbx)) + 5 — byte 0 of the xor ({0,
    // 100}, one computation), zero-extended, then added: every byte {0,
    // 100}, two computations.
    for (uint64_t k = 0; k < 8; k++) {
        EXPECT_EQ(labels_at(t, 16 + k), (std::set<Label>{0, 100})) << "rcx byte " << k;
        EXPECT_EQ(t.get({Space::kEnv, 16 + k}).tcn, 2u) << "rcx byte " << k;
        EXPECT_EQ(labels_at(t, 24 + k), std::set<Label>{static_cast<Label>(k)}) << "rdx byte " << k;
        EXPECT_EQ(t.get({Space::kEnv, 24 + k}).tcn, 0u);
        EXPECT_EQ(labels_at(t, 40 + k), std::set<Label>{static_cast<Label>(100 + k)}) << "select byte " << k;
        EXPECT_EQ(labels_at(t, 48 + k), std::set<Label>{static_cast<Label>(k)}) << "pa byte " << k;
        EXPECT_EQ(labels_at(t, 56 + k), std::set<Label>{static_cast<Label>(100 + k)}) << "pb byte " << k;
    }
    // sext of the xor's low byte: byte 0 copied (one computation), the
    // sign bytes computed from it (two).
    EXPECT_EQ(labels_at(t, 32), (std::set<Label>{0, 100}));
    EXPECT_EQ(t.get({Space::kEnv, 32}).tcn, 1u);
    for (uint64_t k = 1; k < 4; k++) {
        EXPECT_EQ(labels_at(t, 32 + k), (std::set<Label>{0, 100})) << "sign byte " << k;
        EXPECT_EQ(t.get({Space::kEnv, 32 + k}).tcn, 2u) << "sign byte " << k;
    }
    EXPECT_EQ(t.shadow(Space::kEnv).tainted_bytes(), 8u * 7 + 4);
    state = nullptr;
}

}  // namespace
}  // namespace hypanda::taint2
