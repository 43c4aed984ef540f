// file_taint (PANDA's plugin of that name, docs/taint.md): labels the bytes
// a guest process reads from a named file, through taint2, as they arrive
// in its buffer.
//
//   -panda taint2:manual=on -panda file_taint:filename=NAME[,label=N]
//     filename  the file: an openat whose path is NAME, or ends in /NAME
//     label     every byte gets label N (default: positional — a byte's
//               label is its offset in the file)
//
// Followed per process (address space) and descriptor: openat's result,
// read and pread64 (the file offset: counted from the reads, or pread64's
// own), close. Taint tracking is turned on at the first matching open, so
// with taint2's manual=on everything before runs without taint's cost. Not
// followed: lseek, readv, mmap of the file, descriptors passed between
// processes (dup, fork), 32-bit calls.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <panda/plugin.h>
#include <panda/plugin_plugin.h>

#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

#include "syscalls2/syscalls2_ppp.h"
#include "taint2/taint2.h"

namespace {

std::string filename;
bool positional = true;
TaintLabel uniform = 0;
decltype(&taint2_label_ram) label_ram;
decltype(&taint2_enable_taint) enable_taint;

// (address space, descriptor) -> the file offset of its next read.
std::map<std::pair<uint64_t, uint32_t>, uint64_t> open_files;

std::string guest_string(CPUState* cpu, target_ulong addr) {
    std::string s;
    char chunk[64];
    while (s.size() < 4096) {
        const target_ulong at = addr + s.size();
        if (panda_virtual_memory_rw(cpu, at, reinterpret_cast<uint8_t*>(chunk), sizeof chunk,
                                    false) != 0) {
            // The string's page may end before the chunk does: one byte.
            uint8_t c = 0;
            if (panda_virtual_memory_rw(cpu, at, &c, 1, false) != 0 || c == 0) {
                return s;
            }
            s.push_back(static_cast<char>(c));
            continue;
        }
        for (char c : chunk) {
            if (c == 0) {
                return s;
            }
            s.push_back(c);
        }
    }
    return s;
}

bool matches(const std::string& path) {
    return path == filename ||
           (path.size() > filename.size() &&
            path.compare(path.size() - filename.size(), filename.size(), filename) == 0 &&
            path[path.size() - filename.size() - 1] == '/');
}

int64_t result(CPUState* cpu) {
    uint64_t v = 0;
    panda_reg_read(cpu, PANDA_REG_RETVAL, &v);
    return static_cast<int64_t>(v);
}

void on_openat_return(CPUState* cpu, target_ulong pc, int32_t dirfd, target_ulong path,
                      int32_t flags, uint32_t mode) {
    (void)pc, (void)dirfd, (void)flags, (void)mode;
    const int64_t fd = result(cpu);
    if (fd < 0 || !matches(guest_string(cpu, path))) {
        return;
    }
    enable_taint();
    open_files[{panda_current_asid(cpu), static_cast<uint32_t>(fd)}] = 0;
}

void label(CPUState* cpu, target_ulong buf, int64_t n, uint64_t offset) {
    for (int64_t k = 0; k < n; k++) {
        const target_ulong pa = panda_virt_to_phys(cpu, buf + k);
        if (pa != static_cast<target_ulong>(-1)) {
            label_ram(pa, positional ? static_cast<TaintLabel>(offset + k) : uniform);
        }
    }
}

void on_read_return(CPUState* cpu, target_ulong pc, uint32_t fd, target_ulong buf, uint64_t count) {
    (void)pc, (void)count;
    auto it = open_files.find({panda_current_asid(cpu), fd});
    const int64_t n = result(cpu);
    if (it == open_files.end() || n <= 0) {
        return;
    }
    label(cpu, buf, n, it->second);
    it->second += static_cast<uint64_t>(n);
}

void on_pread64_return(CPUState* cpu, target_ulong pc, uint32_t fd, target_ulong buf,
                       uint64_t count, int64_t pos) {
    (void)pc, (void)count;
    const int64_t n = result(cpu);
    if (open_files.count({panda_current_asid(cpu), fd}) != 0 && n > 0 && pos >= 0) {
        label(cpu, buf, n, static_cast<uint64_t>(pos));
    }
}

void on_close_return(CPUState* cpu, target_ulong pc, uint32_t fd) {
    (void)pc;
    if (result(cpu) == 0) {
        open_files.erase({panda_current_asid(cpu), fd});
    }
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    (void)self;
    panda_arg_list* args = panda_get_args("file_taint");
    filename = panda_parse_string_req(args, "filename", "the file whose bytes get labels");
    const uint64_t label_arg = panda_parse_uint64_opt(
        args, "label", UINT64_MAX, "one label for every byte (default: the byte's offset)");
    panda_free_args(args);
    if (filename.empty()) {
        fprintf(stderr, "file_taint: filename= is empty\n");
        return false;
    }
    if (label_arg != UINT64_MAX) {
        if (label_arg > UINT32_MAX) {
            fprintf(stderr, "file_taint: label=%" PRIu64 " is more than a label holds (%u)\n",
                    label_arg, UINT32_MAX);
            return false;
        }
        positional = false;
        uniform = static_cast<TaintLabel>(label_arg);
    }
    if (panda_require("taint2") == nullptr || panda_require("syscalls2") == nullptr) {
        return false;
    }
    label_ram = PANDA_IMPORT("taint2", taint2_label_ram);
    enable_taint = PANDA_IMPORT("taint2", taint2_enable_taint);
    PPP_REG_CB("syscalls2", on_sys_openat_return, on_openat_return);
    PPP_REG_CB("syscalls2", on_sys_read_return, on_read_return);
    PPP_REG_CB("syscalls2", on_sys_pread64_return, on_pread64_return);
    PPP_REG_CB("syscalls2", on_sys_close_return, on_close_return);
    return true;
}

extern "C" void uninit_plugin(void* self) {
    (void)self;
    open_files.clear();
}
