// hypanda-llvm-trace: re-walks a run the llvm_trace plugin logged. Each
// logged block's function (llvm-blocks.ll) is walked from its entry: the
// instruction marks count guest instructions, each guest access takes the
// next load or store record and any other call a returned record (a block
// left early, by a fault or an exception, is left at the call whose record
// is missing), each conditional branch or switch takes the next direction
// record and decides where the walk goes. Prints totals (blocks entered;
// blocks that ran an instruction, as QEMU counts them; blocks left early;
// instructions, loads, stores, guest branches, taken ones),
// totals per address range, and (--walk) every instruction with its
// accesses and branch directions.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <CLI/CLI.hpp>

#include <panda/llvm_pass.h>

#include <llvm/AsmParser/Parser.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/SourceMgr.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "trace_format.h"

namespace {

namespace fmt = hypanda::llvm_trace;

struct Counts {
    uint64_t instructions = 0, loads = 0, stores = 0, branches = 0, taken = 0;
};

struct Range {
    uint64_t lo, hi;  // [lo, hi)
    Counts counts;
};

std::string read_whole(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path);
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The block modules of llvm-blocks.ll, parsed when first walked.
class Blocks {
public:
    explicit Blocks(const std::string& path) : path_(path), text_(read_whole(path)) {
        const std::string header = fmt::kBlockHeader;
        size_t at = 0;
        while ((at = text_.find(header, at)) != std::string::npos) {
            if (at != 0 && text_[at - 1] != '\n') {
                at += header.size();
                continue;
            }
            size_t eol = text_.find('\n', at);
            if (eol == std::string::npos) {
                break;
            }
            std::string name = text_.substr(at + header.size(), eol - at - header.size());
            size_t end = text_.find("\n" + header, eol);
            end = end == std::string::npos ? text_.size() : end + 1;
            spans_[name] = {eol + 1, end};
            at = end;
        }
    }

    llvm::Function& function(const std::string& name) {
        auto found = modules_.find(name);
        if (found == modules_.end()) {
            auto span = spans_.find(name);
            if (span == spans_.end()) {
                throw std::runtime_error(path_ + " has no block " + name);
            }
            llvm::SMDiagnostic diag;
            // (the parser wants its text to end in a NUL)
            std::string text = text_.substr(span->second.first, span->second.second - span->second.first);
            auto module = llvm::parseAssemblyString(text, diag, context_);
            if (module == nullptr) {
                throw std::runtime_error(path_ + ": block " + name + ": line " + std::to_string(diag.getLineNo()) +
                                         ": " + diag.getMessage().str());
            }
            found = modules_.emplace(name, std::move(module)).first;
        }
        llvm::Function* f = found->second->getFunction(name);
        if (f == nullptr || f->isDeclaration()) {
            throw std::runtime_error(path_ + ": block " + name + " has no function " + name);
        }
        return *f;
    }

private:
    std::string path_;
    std::string text_;
    std::map<std::string, std::pair<size_t, size_t>> spans_;
    llvm::LLVMContext context_;
    std::map<std::string, std::unique_ptr<llvm::Module>> modules_;
};

class Log {
public:
    explicit Log(const std::string& path) : path_(path), data_(read_whole(path)) {
        if (data_.compare(0, sizeof(fmt::kMagic), fmt::kMagic, sizeof(fmt::kMagic)) != 0) {
            throw std::runtime_error(path_ + " is not an llvm_trace log");
        }
        at_ = sizeof(fmt::kMagic);
    }
    bool done() const { return at_ >= data_.size(); }
    char peek() const { return done() ? '\0' : data_[at_]; }
    // The next record's tag, and its payload if it has one.
    char take(uint64_t* payload) {
        char tag = data_[at_];
        bool wide = tag == fmt::kBlock || tag == fmt::kLoad || tag == fmt::kStore || tag == fmt::kSwitch;
        if (!wide && tag != fmt::kTrue && tag != fmt::kFalse && tag != fmt::kReturned) {
            fail(std::string("unknown record '") + tag + "'");
        }
        if (wide && at_ + 9 > data_.size()) {
            fail("a record cut short");
        }
        uint64_t v = 0;
        for (int i = 0; wide && i < 8; i++) {
            v |= static_cast<uint64_t>(static_cast<unsigned char>(data_[at_ + 1 + i])) << (8 * i);
        }
        at_ += wide ? 9 : 1;
        if (payload != nullptr) {
            *payload = v;
        }
        return tag;
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error(path_ + ": at byte " + std::to_string(at_) + ": " + what);
    }

private:
    std::string path_;
    std::string data_;
    size_t at_ = 0;
};

struct Walker {
    Blocks& blocks;
    Log& log;
    std::vector<Range>& ranges;
    bool print;
    Counts total;
    uint64_t entered = 0, block_count = 0, cut = 0;
    uint64_t pc = 0;

    template <class F>
    void count(F&& add) {
        add(total);
        for (Range& r : ranges) {
            if (pc >= r.lo && pc < r.hi) {
                add(r.counts);
            }
        }
    }

    // A guest access at `address` (by a helper: `by` says so).
    void access(bool load, uint64_t address, const char* by) {
        count([&](Counts& c) { (load ? c.loads : c.stores)++; });
        if (print) {
            printf("    %s 0x%" PRIx64 "%s\n", load ? "load" : "store", address, by);
        }
    }

    // The next record for this block, or false if the block was left early
    // (the next record is another block's, or the log ends).
    bool next(char* tag, uint64_t* payload) {
        if (log.done() || log.peek() == fmt::kBlock) {
            cut++;
            if (print) {
                printf("  (left early)\n");
            }
            return false;
        }
        *tag = log.take(payload);
        return true;
    }

    void walk(const std::string& name) {
        llvm::Function& f = blocks.function(name);
        entered++;
        bool started = false;
        if (print) {
            printf("%s\n", name.c_str());
        }
        llvm::BasicBlock* bb = &f.getEntryBlock();
        bool at_start = true;  // its 'B' taken (by run)
        while (bb != nullptr) {
            llvm::BasicBlock* to = nullptr;
            for (llvm::Instruction& i : *bb) {
                char tag;
                uint64_t value;
                if (panda::llvm_pass::is_block_start(i)) {
                    if (at_start) {
                        at_start = false;
                        continue;
                    }
                    // the block runs again (linked to itself)
                    if (log.done() || log.peek() != fmt::kBlock) {
                        log.fail(name + " loops to its start here, the log has no block record");
                    }
                    uint64_t again;
                    log.take(&again);
                    if ("tb" + std::to_string(again) != name) {
                        log.fail(name + " loops to its start here, the log has tb" + std::to_string(again));
                    }
                    entered++;
                    started = false;
                    if (print) {
                        printf("%s\n", name.c_str());
                    }
                } else if (auto insn_pc = panda::llvm_pass::guest_pc(i)) {
                    if (!started) {
                        started = true;
                        block_count++;
                    }
                    pc = *insn_pc;
                    count([](Counts& c) { c.instructions++; });
                    if (print) {
                        printf("  0x%" PRIx64 "\n", pc);
                    }
                } else if (panda::llvm_pass::is_guest_load(i) || panda::llvm_pass::is_guest_store(i)) {
                    bool load = panda::llvm_pass::is_guest_load(i);
                    if (!next(&tag, &value)) {
                        return;
                    }
                    if (tag != (load ? fmt::kLoad : fmt::kStore)) {
                        log.fail(name + " makes a " + (load ? "load" : "store") + " here, the log has '" + tag +
                                 "'");
                    }
                    access(load, value, "");
                } else if (auto* call = llvm::dyn_cast<llvm::CallInst>(&i)) {
                    const llvm::Function* callee = call->getCalledFunction();
                    if (call->isMustTailCall() || (callee && callee->isIntrinsic())) {
                        continue;
                    }
                    if (!next(&tag, &value)) {
                        return;
                    }
                    // the helper's own accesses
                    while (tag == fmt::kLoad || tag == fmt::kStore) {
                        access(tag == fmt::kLoad, value, " (helper)");
                        if (!next(&tag, &value)) {
                            return;
                        }
                    }
                    if (tag != fmt::kReturned) {
                        log.fail(name + " makes a call here, the log has '" + tag + "'");
                    }
                } else if (auto* br = llvm::dyn_cast<llvm::BranchInst>(&i)) {
                    if (!br->isConditional()) {
                        to = br->getSuccessor(0);
                        break;
                    }
                    if (!next(&tag, &value)) {
                        return;
                    }
                    if (tag != fmt::kTrue && tag != fmt::kFalse) {
                        log.fail(name + " branches here, the log has '" + tag + "'");
                    }
                    to = br->getSuccessor(tag == fmt::kTrue ? 0 : 1);
                    if (panda::llvm_pass::is_guest_branch(*br)) {
                        bool taken = to == panda::llvm_pass::guest_branch_target(*br);
                        count([&](Counts& c) {
                            c.branches++;
                            c.taken += taken;
                        });
                        if (print) {
                            printf("    branch %s\n", taken ? "taken" : "not taken");
                        }
                    }
                    break;
                } else if (auto* sw = llvm::dyn_cast<llvm::SwitchInst>(&i)) {
                    if (!next(&tag, &value)) {
                        return;
                    }
                    if (tag != fmt::kSwitch) {
                        log.fail(name + " switches here, the log has '" + tag + "'");
                    }
                    to = sw->getDefaultDest();
                    for (auto& c : sw->cases()) {
                        if (c.getCaseValue()->getZExtValue() == value) {
                            to = c.getCaseSuccessor();
                        }
                    }
                    break;
                } else if (llvm::isa<llvm::ReturnInst>(i) || llvm::isa<llvm::UnreachableInst>(i)) {
                    break;
                } else if (i.isTerminator()) {
                    log.fail(name + " has a terminator the reader does not know: " + i.getOpcodeName());
                }
            }
            bb = to;
        }
    }

    void run() {
        while (!log.done()) {
            uint64_t n;
            char tag = log.take(&n);
            if (tag != fmt::kBlock) {
                log.fail(std::string("a '") + tag + "' record outside any block");
            }
            walk("tb" + std::to_string(n));
        }
    }
};

void print_counts(const char* prefix, const Counts& c) {
    printf("%sinstructions %" PRIu64 "\n%sloads %" PRIu64 "\n%sstores %" PRIu64 "\n%sbranches %" PRIu64
           "\n%staken %" PRIu64 "\n",
           prefix, c.instructions, prefix, c.loads, prefix, c.stores, prefix, c.branches, prefix, c.taken);
}

uint64_t parse_address(const std::string& s) {
    size_t used = 0;
    uint64_t v = std::stoull(s, &used, 0);
    if (used != s.size()) {
        throw std::invalid_argument(s);
    }
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Re-walk a run the llvm_trace plugin logged (docs/llvm.md)."};
    std::string dir;
    std::vector<std::string> range_args;
    bool print = false;
    app.add_option("base", dir, "the folder llvm_trace wrote (its base= argument)")->required();
    app.add_option("--range", range_args, "also count the instructions at LO <= pc < HI (LO:HI, 0x for hex)");
    app.add_flag("--walk", print, "print every block, instruction, access and branch direction");
    CLI11_PARSE(app, argc, argv);

    std::vector<Range> ranges;
    for (const std::string& arg : range_args) {
        size_t colon = arg.find(':');
        try {
            if (colon == std::string::npos) {
                throw std::invalid_argument(arg);
            }
            Range r{parse_address(arg.substr(0, colon)), parse_address(arg.substr(colon + 1)), {}};
            if (r.lo >= r.hi) {
                throw std::invalid_argument(arg);
            }
            ranges.push_back(r);
        } catch (const std::exception&) {
            fprintf(stderr, "hypanda-llvm-trace: --range %s: expected LO:HI with LO < HI\n", arg.c_str());
            return 2;
        }
    }
    try {
        Blocks blocks(dir + "/" + fmt::kBlocksFile);
        Log log(dir + "/" + fmt::kLogFile);
        Walker w{blocks, log, ranges, print, {}};
        w.run();
        printf("entered %" PRIu64 "\nblocks %" PRIu64 "\nleft_early %" PRIu64 "\n", w.entered, w.block_count, w.cut);
        print_counts("", w.total);
        for (const Range& r : ranges) {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "0x%" PRIx64 ":0x%" PRIx64 " ", r.lo, r.hi);
            print_counts(prefix, r.counts);
        }
    } catch (const std::exception& e) {
        fprintf(stderr, "hypanda-llvm-trace: %s\n", e.what());
        return 1;
    }
    return 0;
}
