// What syscalls2 knows about each system call, per ABI: the tables
// gen-syscalls2.py writes from the kernel's source (syscalls2_table.cc in
// the build tree).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "syscalls2/syscalls2_ppp.h"

namespace syscalls2 {

enum class ArgKind : uint8_t {
    kStr,    // const char *: a NUL-terminated string the call reads
    kBufin,  // const char *: bytes the call reads, as many as the next argument
    kBufout, // char *: bytes the call writes, as many as it returns
    kPtr,    // any other pointer
    kInt,    // a signed integer
    kUint,   // an unsigned integer
};

struct Arg {
    const char* ctype;  // as the kernel declares it ("const char __user *")
    const char* name;   // "filename"
    ArgKind kind;
    int bits;           // 32 or 64: the width the callbacks pass it with
};

using Runner = void (*)(CPUState* cpu, target_ulong pc, const uint64_t* args);

struct Call {
    const char* name = nullptr;  // nullptr: no call has this number
    int nargs = 0;
    Arg args[6] = {};
    Runner enter = nullptr;  // runs on_sys_<name>_enter
    Runner ret = nullptr;    // runs on_sys_<name>_return
};

// Indexed by number.
extern const Call x86_64_calls[];
extern const int x86_64_count;
extern const Call i386_calls[];
extern const int i386_count;

}  // namespace syscalls2
