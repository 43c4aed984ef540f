// The files llvm_trace writes into its base folder, read back by
// hypanda-llvm-trace (tools/llvm-trace) and by any other reader:
//
// llvm-blocks.ll  the LLVM IR of each block the engine compiled, as the
//                 passes saw it (after the engine's own optimisation, before
//                 llvm_trace's instrumentation): for each, a line
//                 "; hypanda block tbN" then the block's whole module as
//                 LLVM assembly (parseable alone).
// llvm-trace.log  the dynamic log: the 8 bytes kMagic, then records of a tag
//                 byte and a little-endian payload, in execution order:
//                   'B' u64 N    a run of block tbN starts (at its
//                                !hypanda.block mark: also when the block
//                                loops to itself inside its function)
//                   'L' u64 A    a guest load from virtual address A is done
//                   'S' u64 A    a guest store to A is done (or, made by
//                                a QEMU helper, about to be)
//                   'R'          any other call (a helper, a callback)
//                                returned
//                   'T' / 'F'    a conditional branch goes to its first (T)
//                                or second (F) successor
//                   'W' u64 V    a switch on the value V
//                 The accesses a helper makes for its instruction come
//                 after that call and before its 'R'.
//                 A block's records come in the order its function (in
//                 llvm-blocks.ll) meets those places, so a reader walks
//                 the function from its entry and takes one record at each
//                 (after each call, before each branch). Only a call can
//                 leave a block early (a fault, an exception, the end of
//                 the run): then the record after that call is missing,
//                 and the next 'B' (or the end of the file) follows.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

namespace hypanda::llvm_trace {

inline constexpr char kMagic[8] = {'H', 'Y', 'L', 'T', 'R', 'C', '0', '1'};
inline constexpr const char* kBlocksFile = "llvm-blocks.ll";
inline constexpr const char* kLogFile = "llvm-trace.log";
inline constexpr const char* kBlockHeader = "; hypanda block ";

enum Tag : char {
    kBlock = 'B',
    kLoad = 'L',
    kStore = 'S',
    kReturned = 'R',
    kTrue = 'T',
    kFalse = 'F',
    kSwitch = 'W',
};

}  // namespace hypanda::llvm_trace
