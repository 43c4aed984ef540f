// osi_linux: the osi API (plugins/osi/osi.h) for x86_64 Linux guests.
//
// Where the kernel's structures are: from the kernel's own BTF (type
// information a kernel built with CONFIG_DEBUG_INFO_BTF carries in its
// image, as Debian's does), read with libbpf. By default the BTF is found
// in guest RAM, the first time a question is asked: the kernel image is
// loaded there whole, and its .BTF section starts with a recognisable
// header. With `btf=FILE` (raw BTF, e.g. a copy of /sys/kernel/btf/vmlinux)
// it is read from the host instead. No profile is needed.
//
// What is read (all offsets from BTF):
//   current task   per-CPU variable current_task (or pcpu_hot.current_task),
//                  at its .data..percpu offset from the kernel's GS base
//   processes      task_struct.tasks, the ring of thread-group leaders
//   identity       pid, tgid, comm, real_parent, mm (->pgd), start_time
//   mappings       mm_struct.mm_mt, the maple tree of vm_area_structs
//                  (Linux 6.1 on; mm_struct.mmap lists before that)
//   file names     vm_file->f_path.dentry, up the d_parent chain
//
// Kernel memory is read through the kernel's page tables: with page-table
// isolation the CR3 of user code maps almost no kernel memory, so the walk
// uses the kernel half of the page-table pair (CR3 without its PCID and
// PTI bits) when the CPU's own translation fails.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <bpf/btf.h>
#include <linux/btf.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "osi_linux.h"

namespace {

constexpr uint64_t kKernelSpace = 0xffff800000000000ull;
constexpr uint64_t kAddressMask = 0x000ffffffffff000ull;  // a page-table entry's address bits

// ---- Guest memory -----------------------------------------------------------

// The physical address of kernel virtual address `va`, walking the page
// tables at `root` (4 or 5 levels), or nullopt.
std::optional<uint64_t> walk(uint64_t root, uint64_t va, bool five_levels) {
    uint64_t table = root & kAddressMask;
    for (int level = five_levels ? 4 : 3; level >= 0; level--) {
        const int shift = 12 + 9 * level;
        uint64_t entry = 0;
        const uint64_t at = table + ((va >> shift) & 0x1ff) * 8;
        if (panda_physical_memory_rw(at, reinterpret_cast<uint8_t*>(&entry), 8, 0) != 0 || !(entry & 1)) {
            return std::nullopt;
        }
        if (level == 0 || ((level == 1 || level == 2) && (entry & 0x80))) {  // 4K, 2M or 1G page
            const uint64_t page = uint64_t{1} << shift;
            return (entry & kAddressMask & ~(page - 1)) | (va & (page - 1));
        }
        table = entry & kAddressMask;
    }
    return std::nullopt;
}

// Entry `index` of the page table at physical `table` (0 if unreadable).
uint64_t table_entry(uint64_t table, unsigned index) {
    uint64_t e = 0;
    panda_physical_memory_rw((table & kAddressMask) + index * 8, reinterpret_cast<uint8_t*>(&e), 8, 0);
    return e;
}

// The page-directory-pointer entry of the kernel's page tables for the
// 1 GiB at 0xffffff8000000000 + `gib` GiB (the top PML4 slot: 510 is the
// kernel image's window, 511 the module area), if it points to a page
// directory; 0 otherwise, and with 5-level paging (not walked here).
uint64_t top_gib_directory(CPUState* cpu, unsigned gib) {
    uint64_t cr3 = 0, cr4 = 0;
    panda_reg_read(cpu, PANDA_REG_X86_CR3, &cr3);
    panda_reg_read(cpu, PANDA_REG_X86_CR4, &cr4);
    if (cr4 & (1u << 12)) {
        return 0;
    }
    // The kernel half of a PTI pair: bit 12 clear; PCID bits 0-11.
    const uint64_t pml4e = table_entry(cr3 & ~0x1fffull, 511);
    const uint64_t pdpte = (pml4e & 1) ? table_entry(pml4e, gib) : 0;
    return (pdpte & 1) && !(pdpte & 0x80) ? pdpte : 0;
}

// Reads kernel (or current user) memory; false if any byte is unmapped.
bool read_virt(CPUState* cpu, uint64_t va, void* out, size_t n) {
    auto* dst = static_cast<uint8_t*>(out);
    while (n > 0) {
        const size_t chunk = std::min<size_t>(n, 0x1000 - (va & 0xfff));
        if (panda_virtual_memory_rw(cpu, va, dst, static_cast<int>(chunk), 0) != 0) {
            uint64_t cr3 = 0, cr4 = 0;
            panda_reg_read(cpu, PANDA_REG_X86_CR3, &cr3);
            panda_reg_read(cpu, PANDA_REG_X86_CR4, &cr4);
            // The kernel half of a PTI pair: bit 12 clear; PCID bits 0-11.
            auto pa = walk(cr3 & ~0x1fffull, va, cr4 & (1u << 12));
            if (!pa || panda_physical_memory_rw(*pa, dst, static_cast<int>(chunk), 0) != 0) {
                return false;
            }
        }
        va += chunk;
        dst += chunk;
        n -= chunk;
    }
    return true;
}

template <typename T>
std::optional<T> read(CPUState* cpu, uint64_t va) {
    T value;
    if (!read_virt(cpu, va, &value, sizeof value)) {
        return std::nullopt;
    }
    return value;
}

std::string read_string(CPUState* cpu, uint64_t va, size_t max) {
    std::string out;
    char c;
    while (out.size() < max && read_virt(cpu, va + out.size(), &c, 1) && c != '\0') {
        out += c;
    }
    return out;
}

// ---- BTF --------------------------------------------------------------------

// A vmlinux BTF blob starting at physical `at` (its header already
// matched), or nullptr.
struct btf* btf_at(uint64_t at) {
    uint32_t fields[4];  // type_off, type_len, str_off, str_len
    if (panda_physical_memory_rw(at + 8, reinterpret_cast<uint8_t*>(fields), 16, 0) != 0) {
        return nullptr;
    }
    const uint64_t end = 24 + std::max<uint64_t>(uint64_t{fields[0]} + fields[1], uint64_t{fields[2]} + fields[3]);
    if (fields[1] < (1u << 20) || end > (uint64_t{256} << 20)) {
        return nullptr;  // a module's BTF or not BTF at all: vmlinux's has megabytes of types
    }
    std::vector<uint8_t> blob(end);
    if (panda_physical_memory_rw(at, blob.data(), static_cast<int>(end), 0) != 0) {
        return nullptr;
    }
    struct btf* btf = btf__new(blob.data(), static_cast<uint32_t>(blob.size()));
    if (btf != nullptr) {  // libbpf 1.x: NULL on error
        if (btf__find_by_name_kind(btf, "task_struct", BTF_KIND_STRUCT) > 0) {
            return btf;
        }
        btf__free(btf);
    }
    return nullptr;
}

// Searches physical [start, start + len) for the BTF header, in 2 MiB
// chunks; `scanned` counts the bytes read. *unreadable is set when the
// first chunk cannot be read.
struct btf* search_btf(uint64_t start, uint64_t len, uint64_t* scanned, bool* unreadable) {
    static const uint8_t kHeader[] = {0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00};
    constexpr uint64_t kChunk = 2 << 20;
    std::vector<uint8_t> buf(kChunk);
    *unreadable = false;
    for (uint64_t base = start; base < start + len; base += kChunk) {
        if (panda_physical_memory_rw(base, buf.data(), static_cast<int>(kChunk), 0) != 0) {
            *unreadable = base == start;
            return nullptr;
        }
        *scanned += kChunk;
        for (size_t at = 0; at + sizeof kHeader <= kChunk; at++) {
            // memchr, then compare: memmem is slow on zero pages for a
            // needle ending in zeroes.
            const uint8_t* hit = static_cast<const uint8_t*>(memchr(buf.data() + at, kHeader[0], kChunk - at));
            if (hit == nullptr) {
                break;
            }
            at = hit - buf.data();
            if (at + sizeof kHeader > kChunk || std::memcmp(hit, kHeader, sizeof kHeader) != 0) {
                continue;
            }
            if (struct btf* btf = btf_at(base + at)) {
                return btf;
            }
        }
    }
    return nullptr;
}

// Where the kernel image lies in physical memory: the 2 MiB pages the
// kernel's page tables map at __START_KERNEL_map (0xffffffff80000000, the
// image's 1 GiB window, KASLR or not), in order; empty if unreadable.
std::vector<uint64_t> kernel_image_pages(CPUState* cpu) {
    std::vector<uint64_t> pages;
    const uint64_t pdpte = top_gib_directory(cpu, 510);
    if (pdpte == 0) {
        return pages;  // then the whole of RAM is searched
    }
    for (unsigned pd = 0; pd < 512; pd++) {
        const uint64_t pde = table_entry(pdpte, pd);
        if (!(pde & 1)) {
            continue;
        }
        const uint64_t first = (pde & 0x80) ? pde : table_entry(pde, 0);
        if (first & 1) {
            pages.push_back(first & kAddressMask & ~uint64_t(0x1fffff));
        }
    }
    return pages;
}

// The kernel's BTF: found in guest RAM by its header (magic 0xeB9F,
// version 1, 24-byte header) and accepted if libbpf parses it and it
// describes task_struct. The kernel image's own pages are searched first
// (tens of MiB: this matters where RAM is read slowly, as in the nested
// route, and the guest waits meanwhile), then all of RAM.
struct btf* find_btf_in_ram(CPUState* cpu, std::string* why) {
    uint64_t scanned = 0;
    bool unreadable = false;
    for (uint64_t page : kernel_image_pages(cpu)) {
        if (struct btf* btf = search_btf(page, 2 << 20, &scanned, &unreadable)) {
            return btf;
        }
    }
    scanned = 0;
    for (uint64_t base = 0;; base += 2 << 20) {
        uint64_t before = scanned;
        if (struct btf* btf = search_btf(base, 2 << 20, &scanned, &unreadable)) {
            return btf;
        }
        if (unreadable && scanned == before && base >= (uint64_t{4} << 30)) {
            break;  // past the end of RAM (holes below 4 GiB, the PCI hole, are skipped)
        }
    }
    *why = "no kernel BTF in the guest's " + std::to_string(scanned >> 20) +
           " MiB of RAM (a kernel built without CONFIG_DEBUG_INFO_BTF, or not booted yet); give "
           "btf=FILE (a copy of the guest's /sys/kernel/btf/vmlinux)";
    return nullptr;
}

// A member's byte offset and type, looked for in `type_id` and in its
// anonymous struct/union members.
bool find_member(const struct btf* btf, int type_id, const std::string& name, uint32_t* offset,
                 int* member_type) {
    const struct btf_type* t = btf__type_by_id(btf, btf__resolve_type(btf, type_id));
    if (t == nullptr || !btf_is_composite(t)) {
        return false;
    }
    const struct btf_member* m = btf_members(t);
    for (int i = 0; i < btf_vlen(t); i++, m++) {
        const char* mname = btf__name_by_offset(btf, m->name_off);
        const uint32_t bits = btf_member_bit_offset(t, i);
        if (mname != nullptr && name == mname) {
            *offset = bits / 8;
            *member_type = m->type;
            return true;
        }
        if (mname == nullptr || *mname == '\0') {
            uint32_t inner;
            if (find_member(btf, m->type, name, &inner, member_type)) {
                *offset = bits / 8 + inner;
                return true;
            }
        }
    }
    return false;
}

// ---- What osi_linux knows about the kernel -------------------------------------

struct Layout {
    uint32_t current_task;  // per-CPU offset of the current task pointer
    struct {
        uint32_t tasks, pid, tgid, comm, real_parent, group_leader, mm, start_time;
    } task;
    struct {
        uint32_t pgd, mm_mt, mmap, start_brk, brk, start_stack;
        bool maple;  // mm_mt (6.1 on) rather than an mmap list
    } mm;
    struct {
        uint32_t vm_start, vm_end, vm_flags, vm_file, vm_pgoff, vm_mm, vm_next, vm_private_data;
    } vma;
    uint32_t file_f_path, path_dentry, dentry_d_name, dentry_d_parent, qstr_name;
    uint32_t maple_root;                        // maple_tree.ma_root
    uint32_t mr64_pivot, mr64_slot;             // maple_range_64
    uint32_t ma64_pivot, ma64_slot;             // maple_arange_64
    uint32_t special_mapping_name;              // vm_special_mapping.name
    struct {
        bool known;  // all of them found (Linux up to 6.3: core_layout)
        uint32_t state, list, name, core_base, core_size;
    } module;
};

std::optional<Layout> layout;
std::string layout_error;  // why there is none, once tried
bool layout_tried = false;
std::string btf_file;      // the btf= argument

// Fills `out` from `btf`; false with `why` naming what is missing.
bool read_layout(const struct btf* btf, Layout* out, std::string* why) {
    auto struct_id = [&](const char* name) { return btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT); };
    bool ok = true;
    auto member = [&](const char* s, const char* m, uint32_t* off, bool required = true) {
        int id = struct_id(s), type;
        if (id > 0 && find_member(btf, id, m, off, &type)) {
            return true;
        }
        if (required && ok) {
            *why = std::string("the kernel's BTF has no ") + s + "." + m;
            ok = false;
        }
        return false;
    };
    // The current task: a per-CPU variable.
    bool found_current = false;
    const int datasec = btf__find_by_name_kind(btf, ".data..percpu", BTF_KIND_DATASEC);
    if (datasec > 0) {
        const struct btf_type* sec = btf__type_by_id(btf, datasec);
        const struct btf_var_secinfo* v = btf_var_secinfos(sec);
        for (int i = 0; i < btf_vlen(sec) && !found_current; i++, v++) {
            const struct btf_type* var = btf__type_by_id(btf, v->type);
            const char* name = btf__name_by_offset(btf, var->name_off);
            if (name != nullptr && std::strcmp(name, "current_task") == 0) {
                out->current_task = v->offset;
                found_current = true;
            } else if (name != nullptr && std::strcmp(name, "pcpu_hot") == 0) {
                uint32_t inner;
                int type;
                if (find_member(btf, var->type, "current_task", &inner, &type)) {
                    out->current_task = v->offset + inner;
                    found_current = true;
                }
            }
        }
    }
    if (!found_current) {
        *why = "the kernel's BTF has no per-CPU current_task";
        return false;
    }
    member("task_struct", "tasks", &out->task.tasks);
    member("task_struct", "pid", &out->task.pid);
    member("task_struct", "tgid", &out->task.tgid);
    member("task_struct", "comm", &out->task.comm);
    member("task_struct", "real_parent", &out->task.real_parent);
    member("task_struct", "group_leader", &out->task.group_leader);
    member("task_struct", "mm", &out->task.mm);
    member("task_struct", "start_time", &out->task.start_time);
    member("mm_struct", "pgd", &out->mm.pgd);
    out->mm.maple = member("mm_struct", "mm_mt", &out->mm.mm_mt, false);
    if (!out->mm.maple) {
        member("mm_struct", "mmap", &out->mm.mmap);
        member("vm_area_struct", "vm_next", &out->vma.vm_next);
    } else {
        member("maple_tree", "ma_root", &out->maple_root);
        member("maple_range_64", "pivot", &out->mr64_pivot);
        member("maple_range_64", "slot", &out->mr64_slot);
        member("maple_arange_64", "pivot", &out->ma64_pivot);
        member("maple_arange_64", "slot", &out->ma64_slot);
    }
    member("mm_struct", "start_brk", &out->mm.start_brk);
    member("mm_struct", "brk", &out->mm.brk);
    member("mm_struct", "start_stack", &out->mm.start_stack);
    member("vm_area_struct", "vm_start", &out->vma.vm_start);
    member("vm_area_struct", "vm_end", &out->vma.vm_end);
    member("vm_area_struct", "vm_flags", &out->vma.vm_flags);
    member("vm_area_struct", "vm_file", &out->vma.vm_file);
    member("vm_area_struct", "vm_pgoff", &out->vma.vm_pgoff);
    member("vm_area_struct", "vm_mm", &out->vma.vm_mm);
    member("vm_area_struct", "vm_private_data", &out->vma.vm_private_data);
    member("file", "f_path", &out->file_f_path);
    member("path", "dentry", &out->path_dentry);
    member("dentry", "d_name", &out->dentry_d_name);
    member("dentry", "d_parent", &out->dentry_d_parent);
    member("qstr", "name", &out->qstr_name);
    member("vm_special_mapping", "name", &out->special_mapping_name);
    // Kernel modules (get_modules): optional, as 6.4 replaced core_layout.
    uint32_t core = 0, base = 0, size = 0;
    out->module.known = member("module", "state", &out->module.state, false) &&
                        member("module", "list", &out->module.list, false) &&
                        member("module", "name", &out->module.name, false) &&
                        member("module", "core_layout", &core, false) &&
                        member("module_layout", "base", &base, false) &&
                        member("module_layout", "size", &size, false);
    out->module.core_base = core + base;
    out->module.core_size = core + size;
    return ok;
}

// ---- A PANDA kernelinfo.conf profile (kconf_file=, kconf_group=) ------------------
//
// For kernels without BTF. The keys are PANDA's (task.*_offset,
// mm.*_offset, vma.*_offset, fs.f_path_dentry_offset, path.d_name_offset,
// path.d_parent_offset, qstr.name_offset, task.current_task_addr: the
// per-CPU offset of current_task). Linux 6.1's maple tree and a few fields
// PANDA's profiles do not carry take Hypanda's keys (plugins/osi_linux/
// README.md): mm.mm_mt_offset, maple.*, vma.vm_pgoff_offset,
// vma.vm_private_data_offset, special_mapping.name_offset; without
// mm.mm_mt_offset the profile must have mm.mmap_offset and
// vma.vm_next_offset (kernels before 6.1).

std::string kconf_file, kconf_group;  // the arguments

bool read_profile(Layout* out, std::string* why) {
    GKeyFile* conf = g_key_file_new();
    GError* error = nullptr;
    if (!g_key_file_load_from_file(conf, kconf_file.c_str(), G_KEY_FILE_NONE, &error)) {
        *why = "kconf_file=" + kconf_file + ": " + (error != nullptr ? error->message : "cannot be read");
        g_clear_error(&error);
        g_key_file_free(conf);
        return false;
    }
    if (!g_key_file_has_group(conf, kconf_group.c_str())) {
        *why = "kconf_file=" + kconf_file + " has no group [" + kconf_group + "] (kconf_group=)";
        g_key_file_free(conf);
        return false;
    }
    bool ok = true;
    auto value = [&](const char* key, uint32_t* field, bool required = true) {
        gchar* text = g_key_file_get_value(conf, kconf_group.c_str(), key, nullptr);
        if (text == nullptr) {
            if (required && ok) {
                *why = "kconf_file=" + kconf_file + " [" + kconf_group + "] has no " + key;
                ok = false;
            }
            return false;
        }
        char* end = nullptr;
        errno = 0;
        const unsigned long long v = std::strtoull(text, &end, 0);
        const bool good = end != text && *end == '\0' && errno == 0 && v <= 0xffffffffull;
        if (!good && ok) {
            *why = "kconf_file=" + kconf_file + " [" + kconf_group + "] " + key + " = '" + text +
                   "' is not an offset";
            ok = false;
        }
        g_free(text);
        if (good) {
            *field = static_cast<uint32_t>(v);
        }
        return good;
    };
    value("task.current_task_addr", &out->current_task);
    value("task.tasks_offset", &out->task.tasks);
    value("task.pid_offset", &out->task.pid);
    value("task.tgid_offset", &out->task.tgid);
    value("task.comm_offset", &out->task.comm);
    value("task.real_parent_offset", &out->task.real_parent);
    value("task.group_leader_offset", &out->task.group_leader);
    value("task.mm_offset", &out->task.mm);
    value("task.start_time_offset", &out->task.start_time);
    value("mm.pgd_offset", &out->mm.pgd);
    out->mm.maple = value("mm.mm_mt_offset", &out->mm.mm_mt, false);
    if (out->mm.maple) {
        value("maple.ma_root_offset", &out->maple_root);
        value("maple.range64_pivot_offset", &out->mr64_pivot);
        value("maple.range64_slot_offset", &out->mr64_slot);
        value("maple.arange64_pivot_offset", &out->ma64_pivot);
        value("maple.arange64_slot_offset", &out->ma64_slot);
    } else {
        value("mm.mmap_offset", &out->mm.mmap);
        value("vma.vm_next_offset", &out->vma.vm_next);
    }
    value("mm.start_brk_offset", &out->mm.start_brk);
    value("mm.brk_offset", &out->mm.brk);
    value("mm.start_stack_offset", &out->mm.start_stack);
    value("vma.vm_start_offset", &out->vma.vm_start);
    value("vma.vm_end_offset", &out->vma.vm_end);
    value("vma.vm_flags_offset", &out->vma.vm_flags);
    value("vma.vm_file_offset", &out->vma.vm_file);
    value("vma.vm_pgoff_offset", &out->vma.vm_pgoff);
    value("vma.vm_mm_offset", &out->vma.vm_mm);
    value("vma.vm_private_data_offset", &out->vma.vm_private_data);
    value("fs.f_path_dentry_offset", &out->file_f_path);  // f_path.dentry, as one offset
    out->path_dentry = 0;
    value("path.d_name_offset", &out->dentry_d_name);
    value("path.d_parent_offset", &out->dentry_d_parent);
    value("qstr.name_offset", &out->qstr_name);
    value("special_mapping.name_offset", &out->special_mapping_name);
    out->module.known = value("module.state_offset", &out->module.state, false) &&
                        value("module.list_offset", &out->module.list, false) &&
                        value("module.name_offset", &out->module.name, false) &&
                        value("module.core_layout_base_offset", &out->module.core_base, false) &&
                        value("module.core_layout_size_offset", &out->module.core_size, false);
    g_key_file_free(conf);
    return ok;
}

// Whether the kernel has set up its per-CPU area (its GS base is a kernel
// address, live or waiting in MSR_KERNEL_GS_BASE): before that there is
// no process to ask about, and no point looking for the kernel yet.
bool kernel_started(CPUState* cpu) {
    uint64_t gs = 0, kernel_gs = 0;
    panda_reg_read(cpu, PANDA_REG_X86_GS_BASE, &gs);
    panda_reg_read(cpu, PANDA_REG_X86_KERNEL_GS_BASE, &kernel_gs);
    return gs >= kKernelSpace || kernel_gs >= kKernelSpace;
}

// The layout, worked out the first time it is needed once the kernel has
// started (osi costs nothing until asked; asked earlier, it answers NULL
// and tries again later). Reports once, in one line, when the kernel
// cannot be read. `cpu` is nullptr for btf=FILE at load.
const Layout* kernel_layout(CPUState* cpu) {
    if (layout_tried) {
        return layout ? &*layout : nullptr;
    }
    if (cpu != nullptr && btf_file.empty() && kconf_file.empty() && !kernel_started(cpu)) {
        return nullptr;
    }
    layout_tried = true;
    std::string why;
    struct btf* btf = nullptr;
    if (!kconf_file.empty()) {
        Layout l{};
        if (read_profile(&l, &why)) {
            layout = l;
        }
    } else if (!btf_file.empty()) {
        btf = btf__parse_raw(btf_file.c_str());
        if (btf == nullptr) {
            why = "btf=" + btf_file + ": not a raw BTF file libbpf can read";
        }
    } else {
        btf = find_btf_in_ram(cpu, &why);
    }
    Layout l{};
    if (btf != nullptr && read_layout(btf, &l, &why)) {
        layout = l;
    }
    if (btf != nullptr) {
        btf__free(btf);
    }
    if (!layout) {
        layout_error = why;
        std::fprintf(stderr, "plugin 'osi_linux': cannot read this kernel: %s\n", why.c_str());
    }
    return layout ? &*layout : nullptr;
}

// ---- Tasks ------------------------------------------------------------------

std::optional<uint64_t> current_task(CPUState* cpu, const Layout& l) {
    uint64_t gs = 0;
    panda_reg_read(cpu, PANDA_REG_X86_GS_BASE, &gs);
    if (gs < kKernelSpace) {
        // User code (or the kernel before its SWAPGS): the kernel's GS base
        // waits in MSR_KERNEL_GS_BASE.
        panda_reg_read(cpu, PANDA_REG_X86_KERNEL_GS_BASE, &gs);
    }
    if (gs < kKernelSpace) {
        return std::nullopt;  // not set up yet (early boot)
    }
    auto task = read<uint64_t>(cpu, gs + l.current_task);
    if (!task || *task < kKernelSpace) {
        return std::nullopt;
    }
    return task;
}

// The physical address of a process's top page table (its ASID), or 0.
uint64_t process_asid(CPUState* cpu, const Layout& l, uint64_t mm) {
    if (mm == 0) {
        return 0;
    }
    auto pgd = read<uint64_t>(cpu, mm + l.mm.pgd);
    if (!pgd) {
        return 0;
    }
    uint64_t cr3 = 0, cr4 = 0;
    panda_reg_read(cpu, PANDA_REG_X86_CR3, &cr3);
    panda_reg_read(cpu, PANDA_REG_X86_CR4, &cr4);
    auto pa = walk(cr3 & ~0x1fffull, *pgd, cr4 & (1u << 12));
    return pa ? *pa : 0;
}

OsiProc* make_process(CPUState* cpu, const Layout& l, uint64_t task) {
    auto tgid = read<int32_t>(cpu, task + l.task.tgid);
    auto parent = read<uint64_t>(cpu, task + l.task.real_parent);
    auto mm = read<uint64_t>(cpu, task + l.task.mm);
    auto start = read<uint64_t>(cpu, task + l.task.start_time);
    char comm[17] = {};
    if (!tgid || !parent || !mm || !start || !read_virt(cpu, task + l.task.comm, comm, 16)) {
        return nullptr;
    }
    auto ppid = read<int32_t>(cpu, *parent + l.task.tgid);
    auto* p = g_new0(OsiProc, 1);
    p->taskd = task;
    p->asid = process_asid(cpu, l, *mm);
    p->name = g_strdup(comm);
    p->pid = *tgid;
    p->ppid = ppid ? *ppid : 0;
    p->create_time = *start;
    return p;
}

// Every thread-group leader: the ring through task_struct.tasks holds each
// process once (init_task, pid 0, included; threads are not in it).
std::vector<uint64_t> all_tasks(CPUState* cpu, const Layout& l) {
    std::vector<uint64_t> out;
    auto current = current_task(cpu, l);
    if (!current) {
        return out;
    }
    // Only thread-group leaders are in the ring (a thread's own link is a
    // stale copy): start from the current task's leader.
    auto leader = read<uint64_t>(cpu, *current + l.task.group_leader);
    if (!leader || *leader < kKernelSpace) {
        return out;
    }
    const uint64_t start = *leader + l.task.tasks;
    uint64_t link = start;
    out.push_back(*leader);
    std::set<uint64_t> seen;
    for (int i = 0; i < 1 << 20; i++) {
        auto next = read<uint64_t>(cpu, link);
        if (!next || *next < kKernelSpace || !seen.insert(*next).second) {
            break;
        }
        link = *next;
        if (link == start) {
            break;
        }
        out.push_back(link - l.task.tasks);
    }
    return out;
}

// ---- Mappings ------------------------------------------------------------------

// The path of `dentry` from the root of its file system.
std::string dentry_path(CPUState* cpu, const Layout& l, uint64_t dentry) {
    std::vector<std::string> parts;
    for (int depth = 0; depth < 64 && dentry != 0; depth++) {
        auto parent = read<uint64_t>(cpu, dentry + l.dentry_d_parent);
        auto name = read<uint64_t>(cpu, dentry + l.dentry_d_name + l.qstr_name);
        if (!parent || !name) {
            break;
        }
        if (*parent == dentry) {
            break;  // the root
        }
        parts.push_back(read_string(cpu, *name, 255));
        dentry = *parent;
    }
    std::string path;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        path += "/" + *it;
    }
    return path.empty() ? "/" : path;
}

// Every vm_area_struct of the maple tree whose root entry is `entry`.
void maple_walk(CPUState* cpu, const Layout& l, uint64_t entry, int depth, std::vector<uint64_t>* out) {
    // An entry is a node if its low bits are 0b10 and it is above 4096
    // (xa_is_node); the node is at entry & ~0xff, its type in bits 3-6.
    if (depth > 8 || (entry & 3) != 2 || entry <= 4096) {
        return;
    }
    const uint64_t node = entry & ~0xffull;
    const unsigned type = (entry >> 3) & 0xf;
    enum { kDense = 0, kLeaf64 = 1, kRange64 = 2, kArange64 = 3 };
    uint32_t pivot_off, slot_off;
    int slots;
    if (type == kLeaf64 || type == kRange64) {
        pivot_off = l.mr64_pivot, slot_off = l.mr64_slot, slots = 16;
    } else if (type == kArange64) {
        pivot_off = l.ma64_pivot, slot_off = l.ma64_slot, slots = 10;
    } else {
        return;
    }
    std::vector<uint64_t> pivot(slots - 1), slot(slots);
    if (!read_virt(cpu, node + pivot_off, pivot.data(), pivot.size() * 8) ||
        !read_virt(cpu, node + slot_off, slot.data(), slot.size() * 8)) {
        return;
    }
    for (int i = 0; i < slots; i++) {
        // A slot past the node's last pivot (a pivot of 0 after the first)
        // is unused.
        if (i > 0 && i - 1 < slots - 1 && pivot[i - 1] == 0) {
            break;
        }
        if (slot[i] == 0) {
            continue;
        }
        if (type == kLeaf64) {
            out->push_back(slot[i]);
        } else {
            maple_walk(cpu, l, slot[i], depth + 1, out);
        }
    }
}

GArray* new_module_array() {
    GArray* a = g_array_new(FALSE, FALSE, sizeof(OsiModule));
    g_array_set_clear_func(a, [](gpointer p) {
        auto* m = static_cast<OsiModule*>(p);
        g_free(m->file);
        g_free(m->name);
    });
    return a;
}

GArray* mappings_of(CPUState* cpu, const Layout& l, uint64_t task) {
    auto mm = read<uint64_t>(cpu, task + l.task.mm);
    if (!mm) {
        return nullptr;
    }
    GArray* list = new_module_array();
    if (*mm == 0) {
        return list;  // a kernel thread
    }
    std::vector<uint64_t> vmas;
    if (l.mm.maple) {
        auto root = read<uint64_t>(cpu, *mm + l.mm.mm_mt + l.maple_root);
        if (root) {
            if ((*root & 3) == 2 && *root > 4096) {
                maple_walk(cpu, l, *root, 0, &vmas);
            } else if (*root != 0) {
                vmas.push_back(*root);  // a single entry stored in the root
            }
        }
    } else {
        auto vma = read<uint64_t>(cpu, *mm + l.mm.mmap);
        for (int i = 0; vma && *vma != 0 && i < 1 << 16; i++) {
            vmas.push_back(*vma);
            vma = read<uint64_t>(cpu, *vma + l.vma.vm_next);
        }
    }
    const auto start_brk = read<uint64_t>(cpu, *mm + l.mm.start_brk);
    const auto brk = read<uint64_t>(cpu, *mm + l.mm.brk);
    const auto start_stack = read<uint64_t>(cpu, *mm + l.mm.start_stack);
    std::map<uint64_t, OsiModule> by_start;
    for (uint64_t vma : vmas) {
        auto start = read<uint64_t>(cpu, vma + l.vma.vm_start);
        auto end = read<uint64_t>(cpu, vma + l.vma.vm_end);
        auto flags = read<uint64_t>(cpu, vma + l.vma.vm_flags);
        auto file = read<uint64_t>(cpu, vma + l.vma.vm_file);
        auto pgoff = read<uint64_t>(cpu, vma + l.vma.vm_pgoff);
        auto owner = read<uint64_t>(cpu, vma + l.vma.vm_mm);
        if (!start || !end || !flags || !file || !pgoff || !owner || *owner != *mm || *end <= *start) {
            continue;  // not a mapping of this process (a stale or foreign pointer)
        }
        std::string path;
        if (*file != 0) {
            auto dentry = read<uint64_t>(cpu, *file + l.file_f_path + l.path_dentry);
            path = dentry ? dentry_path(cpu, l, *dentry) : "";
        } else if (start_brk && brk && *start <= *brk && *end >= *start_brk) {
            path = "[heap]";
        } else if (start_stack && *start <= *start_stack && *end >= *start_stack) {
            path = "[stack]";
        } else if (auto special = read<uint64_t>(cpu, vma + l.vma.vm_private_data);
                   special && *special >= kKernelSpace) {
            // vdso and vvar: special mappings, named by their vm_special_mapping.
            auto name = read<uint64_t>(cpu, *special + l.special_mapping_name);
            std::string s = name && *name >= kKernelSpace ? read_string(cpu, *name, 32) : "";
            if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
                path = s;
            }
        }
        OsiModule m{};
        m.modd = vma;
        m.base = *start;
        m.size = *end - *start;
        m.file = g_strdup(path.c_str());
        const size_t slash = path.rfind('/');
        m.name = g_strdup(slash == std::string::npos ? path.c_str() : path.c_str() + slash + 1);
        m.offset = *file != 0 ? *pgoff << 12 : 0;  // as /proc/PID/maps shows it
        m.flags = (*flags & 1 ? OSI_MAP_READ : 0) | (*flags & 2 ? OSI_MAP_WRITE : 0) |
                  (*flags & 4 ? OSI_MAP_EXEC : 0) | (*flags & 8 ? OSI_MAP_SHARED : 0);
        if (!by_start.emplace(m.base, m).second) {
            g_free(m.file);
            g_free(m.name);
        }
    }
    for (auto& [start, m] : by_start) {
        g_array_append_val(list, m);
    }
    return list;
}

GArray* new_process_array() {
    GArray* a = g_array_new(FALSE, FALSE, sizeof(OsiProc));
    g_array_set_clear_func(a, [](gpointer p) { g_free(static_cast<OsiProc*>(p)->name); });
    return a;
}

// ---- Kernel modules ---------------------------------------------------------------
//
// The kernel lists its modules from `modules`, a list head in its data that
// BTF does not locate. Each struct module lives in its module's own memory,
// in the module area (x86_64: 0xffffffffc0000000 up to 0xffffffffff000000),
// so the area's mapped pages are searched, through the kernel's page
// tables, for one: a cache-line-aligned struct whose state is a module
// state, whose name is a module name, and whose list links are consistent
// (next->prev and prev->next are itself). Walking its list then leads to
// the one node outside the area: `modules` itself, kept for later calls.

constexpr uint64_t kModulesStart = 0xffffffffc0000000ull;
constexpr uint64_t kModulesEnd = 0xffffffffff000000ull;
constexpr size_t kModuleNameLen = 56;  // MODULE_NAME_LEN on 64-bit
uint64_t modules_head;                 // 0 until found

bool in_module_area(uint64_t va) { return va >= kModulesStart && va < kModulesEnd; }

bool module_name_ok(const char* name) {
    size_t n = 0;
    while (n < kModuleNameLen && name[n] != '\0') {
        const char c = name[n];
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
            return false;
        }
        n++;
    }
    return n > 0 && n < kModuleNameLen;
}

// A struct module at `va` (its bytes from `page` when they lie in it).
bool looks_like_module(CPUState* cpu, const Layout& l, uint64_t va, const uint8_t* page, size_t offset) {
    const auto& m = l.module;
    const size_t end = std::max<size_t>({m.state + 4, m.list + 16, m.name + kModuleNameLen});
    if (offset + end > 0x1000) {
        return false;
    }
    uint32_t state;
    uint64_t next, prev;
    std::memcpy(&state, page + offset + m.state, 4);
    std::memcpy(&next, page + offset + m.list, 8);
    std::memcpy(&prev, page + offset + m.list + 8, 8);
    if (state > 3 || next < kKernelSpace || prev < kKernelSpace ||
        !module_name_ok(reinterpret_cast<const char*>(page + offset + m.name))) {
        return false;
    }
    const uint64_t self = va + m.list;
    auto next_prev = read<uint64_t>(cpu, next + 8);
    auto prev_next = read<uint64_t>(cpu, prev);
    return next_prev && prev_next && *next_prev == self && *prev_next == self;
}

// The `modules` list head, searched for as described above; 0 when no
// module is loaded (searched again next time) or the tables cannot be read.
uint64_t find_modules_head(CPUState* cpu, const Layout& l) {
    const uint64_t pdpte = top_gib_directory(cpu, 511);
    if (pdpte == 0) {
        return 0;
    }
    std::vector<uint8_t> page(0x1000);
    auto search_page = [&](uint64_t pa, uint64_t va) -> uint64_t {
        if (panda_physical_memory_rw(pa, page.data(), 0x1000, 0) != 0) {
            return 0;
        }
        for (size_t offset = 0; offset < 0x1000; offset += 64) {
            if (looks_like_module(cpu, l, va + offset, page.data(), offset)) {
                return va + offset;
            }
        }
        return 0;
    };
    uint64_t found = 0;
    for (unsigned pd = 0; pd < (kModulesEnd - kModulesStart) >> 21 && !found; pd++) {
        const uint64_t pde = table_entry(pdpte, pd);
        const uint64_t va2m = kModulesStart + (uint64_t(pd) << 21);
        if (!(pde & 1)) {
            continue;
        }
        for (unsigned pt = 0; pt < 512 && !found; pt++) {
            const uint64_t va = va2m + (uint64_t(pt) << 12);
            if (pde & 0x80) {
                found = search_page((pde & kAddressMask & ~0x1fffffull) + (uint64_t(pt) << 12), va);
                continue;
            }
            const uint64_t pte = table_entry(pde, pt);
            if (pte & 1) {
                found = search_page(pte & kAddressMask, va);
            }
        }
    }
    if (!found) {
        return 0;
    }
    uint64_t node = found + l.module.list;
    for (int steps = 0; steps < 4096; steps++) {
        auto next = read<uint64_t>(cpu, node);
        if (!next) {
            return 0;
        }
        node = *next;
        if (!in_module_area(node)) {
            return node;
        }
    }
    return 0;
}

// ---- Process start and end (osi's on_process_start / on_process_end) ---------
//
// Off until osi asks (osi_linux_watch_processes, when a plugin registers
// for either): then system-call instructions (SYSCALL, SYSENTER, INT 0x80)
// are instrumented. A thread entering execve or execveat is remembered with
// its address space; at its next system call, a new address space means the
// exec succeeded: the new program has started (reported then, before that
// call runs). exit_group is reported as the process's end before it runs.

void* self_handle;
void (*on_start)(CPUState*, OsiProc*);
void (*on_end)(CPUState*, OsiProc*);
std::mutex watch_mutex;  // vCPU threads
std::map<int32_t, uint64_t> exec_pending;  // tid -> address space at execve's entry

constexpr uint64_t kLinuxUser32Cs = 0x23;

uint64_t reg(CPUState* cpu, panda_reg r) {
    uint64_t v = 0;
    panda_reg_read(cpu, r, &v);
    return v;
}

bool is_syscall_instruction(CPUState* cpu, target_ulong pc) {
    uint8_t b[2];
    return panda_virtual_memory_rw(cpu, pc, b, 2, 0) == 0 &&
           ((b[0] == 0x0f && (b[1] == 0x05 || b[1] == 0x34)) || (b[0] == 0xcd && b[1] == 0x80));
}

int at_syscall(CPUState* cpu, target_ulong pc) {
    uint8_t b[2];
    if (panda_virtual_memory_rw(cpu, pc, b, 2, 0) != 0) {
        return 0;
    }
    const bool compat = (b[0] == 0xcd) || (b[0] == 0x0f && b[1] == 0x34) ||
                        reg(cpu, PANDA_REG_X86_CS) == kLinuxUser32Cs;
    const uint64_t number = reg(cpu, PANDA_REG_X86_RAX) & (compat ? 0xffffffffu : ~uint64_t(0));
    const bool exec = compat ? (number == 11 || number == 358) : (number == 59 || number == 322);
    const bool exit_group = compat ? number == 252 : number == 231;
    const Layout* l = kernel_layout(cpu);
    auto task = l ? current_task(cpu, *l) : std::nullopt;
    if (!task) {
        return 0;
    }
    const auto tid = read<int32_t>(cpu, *task + l->task.pid);
    if (!tid) {
        return 0;
    }
    const uint64_t asid = panda_current_asid(cpu);
    bool started = false;
    {
        std::lock_guard<std::mutex> lock(watch_mutex);
        auto it = exec_pending.find(*tid);
        if (it != exec_pending.end()) {
            started = it->second != asid;
            exec_pending.erase(it);
        }
        if (exec) {
            exec_pending[*tid] = asid;
        }
    }
    if ((started && on_start != nullptr) || (exit_group && on_end != nullptr)) {
        OsiProc* p = make_process(cpu, *l, *task);
        if (p != nullptr) {
            if (started && on_start != nullptr) {
                on_start(cpu, p);
            }
            if (exit_group && on_end != nullptr) {
                on_end(cpu, p);
            }
            free_osiproc(p);
        }
    }
    return 0;
}

}  // namespace

// ---- The osi API --------------------------------------------------------------

extern "C" {

OsiProc* get_current_process(CPUState* cpu) {
    const Layout* l = kernel_layout(cpu);
    auto task = l ? current_task(cpu, *l) : std::nullopt;
    return task ? make_process(cpu, *l, *task) : nullptr;
}

OsiProcHandle* get_current_process_handle(CPUState* cpu) {
    OsiProc* p = get_current_process(cpu);
    if (p == nullptr) {
        return nullptr;
    }
    auto* h = g_new0(OsiProcHandle, 1);
    h->taskd = p->taskd;
    h->asid = p->asid;
    free_osiproc(p);
    return h;
}

OsiThread* get_current_thread(CPUState* cpu) {
    const Layout* l = kernel_layout(cpu);
    auto task = l ? current_task(cpu, *l) : std::nullopt;
    if (!task) {
        return nullptr;
    }
    auto pid = read<int32_t>(cpu, *task + l->task.pid);
    auto tgid = read<int32_t>(cpu, *task + l->task.tgid);
    if (!pid || !tgid) {
        return nullptr;
    }
    auto* t = g_new0(OsiThread, 1);
    t->pid = *tgid;
    t->tid = *pid;
    return t;
}

GArray* get_processes(CPUState* cpu) {
    const Layout* l = kernel_layout(cpu);
    if (l == nullptr || !current_task(cpu, *l)) {
        return nullptr;
    }
    // In the ring's order from init_task (pid 0), which is creation order.
    std::vector<OsiProc*> ring;
    size_t first = 0;
    for (uint64_t task : all_tasks(cpu, *l)) {
        if (OsiProc* p = make_process(cpu, *l, task)) {
            if (p->pid == 0) {
                first = ring.size();
            }
            ring.push_back(p);
        }
    }
    GArray* list = new_process_array();
    for (size_t i = 0; i < ring.size(); i++) {
        OsiProc* p = ring[(first + i) % ring.size()];
        g_array_append_val(list, *p);
        g_free(p);  // the array owns its name now
    }
    return list;
}

GArray* get_process_handles(CPUState* cpu) {
    GArray* processes = get_processes(cpu);
    if (processes == nullptr) {
        return nullptr;
    }
    GArray* handles = g_array_new(FALSE, FALSE, sizeof(OsiProcHandle));
    for (guint i = 0; i < processes->len; i++) {
        const OsiProc& p = g_array_index(processes, OsiProc, i);
        OsiProcHandle h{p.taskd, p.asid};
        g_array_append_val(handles, h);
    }
    g_array_free(processes, TRUE);
    return handles;
}

OsiProc* get_process(CPUState* cpu, const OsiProcHandle* handle) {
    const Layout* l = kernel_layout(cpu);
    return l && handle ? make_process(cpu, *l, handle->taskd) : nullptr;
}

GArray* get_mappings(CPUState* cpu, OsiProc* process) {
    const Layout* l = kernel_layout(cpu);
    return l && process ? mappings_of(cpu, *l, process->taskd) : nullptr;
}

GArray* get_modules(CPUState* cpu) {
    const Layout* l = kernel_layout(cpu);
    if (l == nullptr || !l->module.known || !current_task(cpu, *l)) {
        return nullptr;
    }
    GArray* list = new_module_array();
    if (modules_head == 0) {
        modules_head = find_modules_head(cpu, *l);
        if (modules_head == 0) {
            return list;  // no module loaded (yet)
        }
    }
    uint64_t node = modules_head;
    for (int steps = 0; steps < 4096; steps++) {
        auto next = read<uint64_t>(cpu, node);
        if (!next || *next == modules_head) {
            break;
        }
        node = *next;
        const uint64_t module = node - l->module.list;
        char name[kModuleNameLen] = {};
        auto base = read<uint64_t>(cpu, module + l->module.core_base);
        auto size = read<uint32_t>(cpu, module + l->module.core_size);
        if (!base || !size || !read_virt(cpu, module + l->module.name, name, sizeof name)) {
            break;
        }
        name[kModuleNameLen - 1] = '\0';
        OsiModule m{};
        m.modd = module;
        m.base = *base;
        m.size = *size;
        m.file = g_strdup("");
        m.name = g_strdup(name);
        g_array_append_val(list, m);
    }
    return list;
}

void free_osiproc(OsiProc* p) {
    if (p != nullptr) {
        g_free(p->name);
        g_free(p);
    }
}

void free_osiprochandle(OsiProcHandle* h) { g_free(h); }

void free_osithread(OsiThread* t) { g_free(t); }

void osi_linux_watch_processes(void (*start)(CPUState*, OsiProc*), void (*end)(CPUState*, OsiProc*)) {
    const bool first = on_start == nullptr && on_end == nullptr;
    on_start = start;
    on_end = end;
    if (first && self_handle != nullptr) {
        panda_cb cb;
        cb.insn_translate = is_syscall_instruction;
        panda_register_callback(self_handle, PANDA_CB_INSN_TRANSLATE, cb);
        cb.insn_exec = at_syscall;
        panda_register_callback(self_handle, PANDA_CB_INSN_EXEC, cb);
        panda_do_flush_tb();  // system calls already translated get the call
    }
}

bool init_plugin(void* self) {
    self_handle = self;
    panda_arg_list* args = panda_get_args("osi_linux");
    btf_file = panda_parse_string_opt(args, "btf", "",
                                      "raw BTF of the guest kernel (default: found in guest RAM)");
    kconf_file = panda_parse_string_opt(args, "kconf_file", "",
                                        "a PANDA kernelinfo.conf profile, used instead of BTF");
    kconf_group = panda_parse_string_opt(args, "kconf_group", "", "the profile's group for this kernel");
    panda_free_args(args);
    if (!kconf_file.empty() && !btf_file.empty()) {
        std::fprintf(stderr, "plugin 'osi_linux': give either btf= or kconf_file=, not both\n");
        return false;
    }
    if (kconf_file.empty() != kconf_group.empty()) {
        std::fprintf(stderr, "plugin 'osi_linux': kconf_file= and kconf_group= go together\n");
        return false;
    }
    if (!btf_file.empty() || !kconf_file.empty()) {
        // Read it now: a bad file is an error at load, not at the first question.
        layout_tried = false;
        if (kernel_layout(nullptr) == nullptr) {
            return false;
        }
    }
    return true;
}

void uninit_plugin(void*) {
    layout.reset();
    layout_tried = false;
    on_start = nullptr;
    on_end = nullptr;
    exec_pending.clear();
    modules_head = 0;
}

}  // extern "C"
