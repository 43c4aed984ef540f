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
#include "runtime.h"
#include "taint_state.h"

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
    return s == nullptr ? std::set<Label>{}
                        : std::set<Label>(s->labels().begin(), s->labels().end());
}

// `ir` parsed, its function `name` instrumented and checked by LLVM's
// verifier, then compiled on a JIT of its own with `natives` (name,
// address) for the functions it declares. The JIT lives as long as this.
class InstrumentedBlock {
public:
    InstrumentedBlock(const char* ir, const char* name,
                      std::vector<std::pair<const char*, void*>> natives = {}) {
        llvm::InitializeNativeTarget();
        llvm::InitializeNativeTargetAsmPrinter();
        auto context = std::make_unique<llvm::LLVMContext>();
        llvm::SMDiagnostic diag;
        std::unique_ptr<llvm::Module> module = llvm::parseAssemblyString(ir, diag, *context);
        if (module == nullptr) {
            error_ = "cannot parse the block: " + diag.getMessage().str();
            return;
        }
        auto jit = llvm::orc::LLJITBuilder().create();
        if (!jit) {
            error_ = llvm::toString(jit.takeError());
            return;
        }
        jit_ = std::move(*jit);
        module->setDataLayout(jit_->getDataLayout());
        // Every function defined, as the plugin's pass sees them: the block
        // and any helpers in the JIT it calls.
        for (llvm::Function& f : *module) {
            if (!f.isDeclaration()) {
                const InstrumentStats stats = instrument(f, forwarding_runtime());
                if (f.getName() == name) {
                    stats_ = stats;
                }
            }
        }
        llvm::raw_string_ostream why(error_);
        if (llvm::verifyModule(*module, &why)) {
            why << "(the instrumented block does not verify)";
            why.flush();
            return;
        }
        llvm::orc::MangleAndInterner mangle(jit_->getExecutionSession(), jit_->getDataLayout());
        llvm::orc::SymbolMap symbols;
        for (const auto& [native, address] : natives) {
            symbols[mangle(native)] = llvm::JITEvaluatedSymbol(
                llvm::pointerToJITTargetAddress(address), llvm::JITSymbolFlags::Exported);
        }
        if (auto e = jit_->getMainJITDylib().define(llvm::orc::absoluteSymbols(symbols))) {
            error_ = llvm::toString(std::move(e));
            return;
        }
        if (auto e = jit_->addIRModule(
                llvm::orc::ThreadSafeModule(std::move(module), std::move(context)))) {
            error_ = llvm::toString(std::move(e));
            return;
        }
        auto sym = jit_->lookup(name);
        if (!sym) {
            error_ = llvm::toString(sym.takeError());
            return;
        }
        fn_ = reinterpret_cast<uint64_t (*)(uint8_t*)>(sym->getAddress());
    }

    // Empty when the block is ready to run.
    const std::string& error() const { return error_; }
    const InstrumentStats& stats() const { return stats_; }
    uint64_t run(uint8_t* env) const { return fn_(env); }

private:
    std::unique_ptr<llvm::orc::LLJIT> jit_;
    InstrumentStats stats_;
    std::string error_;
    uint64_t (*fn_)(uint8_t*) = nullptr;
};

TEST(Taint2Pass, RegistersCarryTheLabelsAndNumbersWorkedOutFromTheBlock) {
    InstrumentedBlock block(kBlock, "tb0");
    ASSERT_EQ(block.error(), "");
    EXPECT_EQ(block.stats().unfollowed, 0u);
    // Every non-void instruction of the block (31) but the 16 address
    // computations from %env (8 GEPs, 8 bitcasts): statically clean.
    EXPECT_EQ(block.stats().values, 15u);

    TaintState t;
    forward_to(&t);
    t.label_positional({Space::kEnv, 0}, 8, 0);    // rax: byte k {k}
    t.label_positional({Space::kEnv, 8}, 8, 100);  // rbx: byte k {100 + k}
    uint8_t env[64] = {};
    const uint64_t rax = 0x1122334455667788, rbx = 3;
    std::memcpy(env, &rax, 8);
    std::memcpy(env + 8, &rbx, 8);
    EXPECT_EQ(block.run(env), 0u);

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
    EXPECT_EQ(sx,
              static_cast<uint32_t>(static_cast<int32_t>(static_cast<int8_t>((rax ^ rbx) & 0xff))));
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
        EXPECT_EQ(labels_at(t, 40 + k), std::set<Label>{static_cast<Label>(100 + k)})
            << "select byte " << k;
        EXPECT_EQ(labels_at(t, 48 + k), std::set<Label>{static_cast<Label>(k)}) << "pa byte " << k;
        EXPECT_EQ(labels_at(t, 56 + k), std::set<Label>{static_cast<Label>(100 + k)})
            << "pb byte " << k;
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
    forward_to(nullptr);
}

// Guest memory as the lifter calls it in the system emulator: softmmu
// helpers with the guest virtual address, marked !hypanda.load and
// !hypanda.store. Guest page 0 is at physical 0x200000, page 1 at 0x50000
// (so an access across them lands on two unrelated physical pages),
// page 2 is unmapped.
constexpr const char* kMemoryBlock = R"IR(
declare i64 @helper_le_ldul_mmu(i8*, i64, i32, i64)
declare void @helper_le_stl_mmu(i8*, i64, i32, i32, i64)
declare i64 @helper_ret_ldsb_mmu(i8*, i64, i32, i64)

define i64 @tb1(i8* noalias %env) {
entry:
  %p0 = getelementptr inbounds i8, i8* %env, i64 0
  %r0 = bitcast i8* %p0 to i64*
  %a = load i64, i64* %r0
  %v = call i64 @helper_le_ldul_mmu(i8* %env, i64 %a, i32 32, i64 0), !hypanda.load !0
  %v1 = add i64 %v, 1
  %t = trunc i64 %v1 to i32
  %b = add i64 %a, 4094
  call void @helper_le_stl_mmu(i8* %env, i64 %b, i32 %t, i32 32, i64 0), !hypanda.store !0
  %s = call i64 @helper_ret_ldsb_mmu(i8* %env, i64 %a, i32 128, i64 0), !hypanda.load !0
  %p1 = getelementptr inbounds i8, i8* %env, i64 8
  %r1 = bitcast i8* %p1 to i64*
  store i64 %s, i64* %r1
  %c = add i64 %a, 8190
  %u = call i64 @helper_le_ldul_mmu(i8* %env, i64 %c, i32 32, i64 0), !hypanda.load !0
  %p2 = getelementptr inbounds i8, i8* %env, i64 16
  %r2 = bitcast i8* %p2 to i64*
  store i64 %u, i64* %r2
  ret i64 0
}
!0 = !{}
)IR";

uint8_t guest_memory[3 * 4096];

uint64_t fake_ldul(void*, uint64_t va, uint32_t, uint64_t) {
    uint32_t v = 0;
    std::memcpy(&v, guest_memory + va, 4);
    return v;
}
void fake_stl(void*, uint64_t va, uint32_t v, uint32_t, uint64_t) {
    std::memcpy(guest_memory + va, &v, 4);
}
uint64_t fake_ldsb(void*, uint64_t va, uint32_t, uint64_t) {
    return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(guest_memory[va])));
}

TEST(Taint2Pass, GuestMemoryGoesThroughThePhysicalPagesOfEachAccess) {
    InstrumentedBlock block(kMemoryBlock, "tb1",
                            {{"helper_le_ldul_mmu", reinterpret_cast<void*>(&fake_ldul)},
                             {"helper_le_stl_mmu", reinterpret_cast<void*>(&fake_stl)},
                             {"helper_ret_ldsb_mmu", reinterpret_cast<void*>(&fake_ldsb)}});
    ASSERT_EQ(block.error(), "");
    EXPECT_EQ(block.stats().unfollowed, 0u);

    TaintState t;
    forward_to(&t);
    uint8_t env[24] = {};  // rax = 0: the access address
    t.set_translate([&env](void* e, uint64_t va, uint32_t, bool) -> std::optional<uint64_t> {
        EXPECT_EQ(e, env);
        const uint64_t off = va & 0xfff;
        switch (va >> 12) {
            case 0:
                return 0x200000 + off;
            case 1:
                return 0x50000 + off;
            default:
                return std::nullopt;
        }
    });
    const uint8_t input[4] = {0x91, 0x22, 0x33, 0x44};
    std::memcpy(guest_memory, input, 4);
    t.label_positional({Space::kRam, 0x200000}, 4, 10);        // guest bytes 0..3: {10}..{13}
    t.label_positional({Space::kRam, 0x50000 + 4094}, 2, 20);  // guest bytes 8190, 8191: {20}, {21}
    EXPECT_EQ(block.run(env), 0u);

    // Values: v = 0x44332291; v + 1 stored at 4094 (two bytes in each
    // page); ldsb of 0x91 sign-extends.
    uint32_t stored = 0;
    std::memcpy(&stored, guest_memory + 4094, 4);
    EXPECT_EQ(stored, 0x44332292u);
    uint64_t s = 0;
    std::memcpy(&s, env + 8, 8);
    EXPECT_EQ(s, 0xffffffffffffff91u);

    const std::set<Label> input_labels = {10, 11, 12, 13};
    auto labels_of = [&t](Place p) {
        const LabelSet* l = t.get(p).labels;
        return l == nullptr ? std::set<Label>{}
                            : std::set<Label>(l->labels().begin(), l->labels().end());
    };
    // The store: v + 1 mixed all four loaded bytes (one computation), and
    // its four bytes went to 0x200ffe, 0x200fff, 0x50000, 0x50001.
    for (uint64_t pa : {0x200ffeull, 0x200fffull, 0x50000ull, 0x50001ull}) {
        EXPECT_EQ(labels_of({Space::kRam, pa}), input_labels) << std::hex << pa;
        EXPECT_EQ(t.get({Space::kRam, pa}).tcn, 1u) << std::hex << pa;
    }
    EXPECT_FALSE(t.get({Space::kRam, 0x50002}).tainted());
    EXPECT_FALSE(
        t.get({Space::kRam, 0x201000}).tainted());  // not where the contiguous guess would put it
    // ldsb: byte 0 loaded ({10}, none), bytes 1..7 the sign, computed from it.
    EXPECT_EQ(labels_of({Space::kEnv, 8}), std::set<Label>{10});
    EXPECT_EQ(t.get({Space::kEnv, 8}).tcn, 0u);
    for (uint64_t k = 1; k < 8; k++) {
        EXPECT_EQ(labels_of({Space::kEnv, 8 + k}), std::set<Label>{10}) << k;
        EXPECT_EQ(t.get({Space::kEnv, 8 + k}).tcn, 1u) << k;
    }
    // The load across into the unmapped page: its first two bytes {20},
    // {21}; the other two, and the zero-extension, clean.
    EXPECT_EQ(labels_of({Space::kEnv, 16}), std::set<Label>{20});
    EXPECT_EQ(labels_of({Space::kEnv, 17}), std::set<Label>{21});
    for (uint64_t k = 2; k < 8; k++) {
        EXPECT_FALSE(t.get({Space::kEnv, 16 + k}).tainted()) << k;
    }
    EXPECT_EQ(t.shadow(Space::kRam).tainted_bytes(), 4u + 2 + 4);
    forward_to(nullptr);
}

// Helpers in the JIT: a block calls a helper instrumented with its own
// frame (pass.h) and a native function. The helper reads rbx through its
// CPU-state pointer, multiplies it with its first argument, adds the
// second, goes through a local variable (host memory), writes its first
// argument to rdx and returns the sum; the block stores the result to
// 32, and the native function's (which the pass cannot see into) to 40.
constexpr const char* kHelperBlock = R"IR(
define i64 @helper_mulsum(i8* %env, i64 %a, i64 %b) {
  %local = alloca i64
  %p1 = getelementptr inbounds i8, i8* %env, i64 8
  %r1 = bitcast i8* %p1 to i64*
  %rbx = load i64, i64* %r1
  %m = mul i64 %a, %rbx
  %s = add i64 %m, %b
  store i64 %s, i64* %local
  %back = load i64, i64* %local
  %p3 = getelementptr inbounds i8, i8* %env, i64 24
  %r3 = bitcast i8* %p3 to i64*
  store i64 %a, i64* %r3
  ret i64 %back
}

declare i64 @native_add(i64, i64)

define i64 @tb2(i8* noalias %env) {
  %r0 = bitcast i8* %env to i64*
  %rax = load i64, i64* %r0
  %p2 = getelementptr inbounds i8, i8* %env, i64 16
  %r2 = bitcast i8* %p2 to i64*
  %rcx = load i64, i64* %r2
  %h = call i64 @helper_mulsum(i8* %env, i64 %rax, i64 %rcx)
  %p4 = getelementptr inbounds i8, i8* %env, i64 32
  %r4 = bitcast i8* %p4 to i64*
  store i64 %h, i64* %r4
  %n = call i64 @native_add(i64 %rax, i64 %rcx)
  %p5 = getelementptr inbounds i8, i8* %env, i64 40
  %r5 = bitcast i8* %p5 to i64*
  store i64 %n, i64* %r5
  ret i64 0
}
)IR";

uint64_t native_add(uint64_t a, uint64_t b) {
    return a + b;
}

TEST(Taint2Pass, HelpersInTheJitCarryTaintThroughTheirFrames) {
    InstrumentedBlock block(kHelperBlock, "tb2",
                            {{"native_add", reinterpret_cast<void*>(native_add)}});
    ASSERT_EQ(block.error(), "");
    TaintState t;
    forward_to(&t);
    uint8_t env[64] = {};
    t.add_cpu_state(env, sizeof env);
    t.label_positional({Space::kEnv, 0}, 8, 0);                 // rax: byte k {k}
    t.label_positional({Space::kEnv, 8}, 8, 100);               // rbx: byte k {100 + k}
    const uint64_t rax = 0x1122334455667788, rbx = 3, rcx = 5;  // rcx clean
    std::memcpy(env, &rax, 8);
    std::memcpy(env + 8, &rbx, 8);
    std::memcpy(env + 16, &rcx, 8);
    EXPECT_EQ(block.run(env), 0u);
    uint64_t rdx = 0, h = 0, n = 0;
    std::memcpy(&rdx, env + 24, 8);
    std::memcpy(&h, env + 32, 8);
    std::memcpy(&n, env + 40, 8);
    EXPECT_EQ(rdx, rax);
    EXPECT_EQ(h, rax * rbx + rcx);
    EXPECT_EQ(n, rax + rcx);

    std::set<Label> both;
    for (Label k = 0; k < 8; k++) {
        both.insert(k);
        both.insert(100 + k);
    }
    std::set<Label> rax_labels(both.begin(), both.find(100));
    for (uint64_t k = 0; k < 8; k++) {
        // rdx: the helper's first parameter, a copy of rax (through the
        // call's parameter slot and the CPU-state pointer).
        EXPECT_EQ(labels_at(t, 24 + k), std::set<Label>{static_cast<Label>(k)}) << "rdx " << k;
        EXPECT_EQ(t.get({Space::kEnv, 24 + k}).tcn, 0u);
        // The helper's result: (rax × rbx) + clean, through a local and the
        // return slot: every byte {rax's, rbx's}, two computations.
        EXPECT_EQ(labels_at(t, 32 + k), both) << "result " << k;
        EXPECT_EQ(t.get({Space::kEnv, 32 + k}).tcn, 2u) << "result " << k;
        // The native function: the mix of its arguments, one computation.
        EXPECT_EQ(labels_at(t, 40 + k), rax_labels) << "native " << k;
        EXPECT_EQ(t.get({Space::kEnv, 40 + k}).tcn, 1u) << "native " << k;
    }
    // The helper's local went through host memory's shadow.
    EXPECT_EQ(t.shadow(Space::kHost).tainted_bytes(), 8u);
    forward_to(nullptr);
}

}  // namespace
}  // namespace hypanda::taint2
