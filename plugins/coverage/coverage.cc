// The coverage plugin: which basic blocks of user-space programs ran, and
// how often, by module (the mapped file a block lies in, from osi). Written
// at unload as drcov (drcov=FILE; the format Lighthouse and bncov read)
// and, for one program whose ELF with DWARF is on the host, as an lcov
// tracefile (lcov=FILE, elf=HOSTFILE) that genhtml renders.
//
// Blocks are counted in before_block_exec, for user-mode code only; osi is
// asked which process runs only when the address space changes between two
// user blocks, and for a module's mappings only the first time a block is
// seen. A line's count in the tracefile is how many times its first
// instruction (lowest address) ran: the sum of the counts of the blocks
// that hold it (a jump into the middle of a block makes a second block
// overlapping the first).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <panda/plugin.h>
#include <panda/plugin_plugin.h>

#include "osi/osi.h"

namespace {

struct Module {
    std::string path;
    uint64_t base = 0, end = 0;  // lowest mapping start, highest mapping end
};

struct Block {
    int module;  // index in modules, -1: not in a mapped file
    uint64_t pc;
    uint32_t size;
    uint64_t count;
};

struct Mapping {
    uint64_t start, end;
    int module;
};

struct KeyHash {
    size_t operator()(const std::pair<uint64_t, uint64_t>& k) const {
        return std::hash<uint64_t>()(k.first * 0x9e3779b97f4a7c15ull ^ k.second);
    }
};

std::mutex mutex;  // vCPU threads
std::string process_filter, drcov_path, lcov_path, elf_path, module_filter;
std::vector<Module> modules;
std::map<std::pair<std::string, uint64_t>, int> module_ids;
std::vector<Block> blocks;
std::unordered_map<std::pair<uint64_t, uint64_t>, size_t, KeyHash> block_index;  // (asid, pc) -> blocks
std::map<uint64_t, std::vector<Mapping>> mappings_by_asid;
std::map<CPUState*, std::pair<uint64_t, bool>> last_asid;  // per vCPU: asid, whether it is counted

OsiProc* (*current_process)(CPUState*);
GArray* (*process_mappings)(CPUState*, OsiProc*);
void (*free_process)(OsiProc*);

bool process_counted(CPUState* cpu, uint64_t asid) {
    auto& last = last_asid[cpu];
    if (last.first == asid && asid != 0) {
        return last.second;
    }
    bool counted = true;
    if (!process_filter.empty()) {
        OsiProc* p = current_process(cpu);
        counted = p != nullptr && p->name != nullptr && process_filter == p->name;
        if (p != nullptr) {
            free_process(p);
        }
    }
    last = {asid, counted};
    return counted;
}

// The asid's file mappings, read again from osi (a program maps more as it runs).
void refresh_mappings(CPUState* cpu, uint64_t asid) {
    OsiProc* p = current_process(cpu);
    if (p == nullptr) {
        return;
    }
    GArray* maps = process_mappings(cpu, p);
    free_process(p);
    if (maps == nullptr) {
        return;
    }
    std::map<std::string, std::pair<uint64_t, uint64_t>> extent;  // path -> lowest start, highest end
    for (guint i = 0; i < maps->len; i++) {
        const OsiModule& m = g_array_index(maps, OsiModule, i);
        if (m.file == nullptr || m.file[0] != '/') {
            continue;
        }
        auto [it, fresh] = extent.emplace(m.file, std::make_pair(m.base, m.base + m.size));
        if (!fresh) {
            it->second.first = std::min<uint64_t>(it->second.first, m.base);
            it->second.second = std::max<uint64_t>(it->second.second, m.base + m.size);
        }
    }
    std::vector<Mapping> list;
    for (guint i = 0; i < maps->len; i++) {
        const OsiModule& m = g_array_index(maps, OsiModule, i);
        if (m.file == nullptr || m.file[0] != '/') {
            continue;
        }
        const auto& [base, end] = extent[m.file];
        auto [id, fresh] = module_ids.emplace(std::make_pair(std::string(m.file), base), int(modules.size()));
        if (fresh) {
            modules.push_back(Module{m.file, base, end});
        }
        modules[id->second].end = std::max(modules[id->second].end, end);
        list.push_back(Mapping{m.base, m.base + m.size, id->second});
    }
    g_array_free(maps, TRUE);
    mappings_by_asid[asid] = std::move(list);
}

int module_of(CPUState* cpu, uint64_t asid, uint64_t pc) {
    for (int attempt = 0; attempt < 2; attempt++) {
        for (const Mapping& m : mappings_by_asid[asid]) {
            if (pc >= m.start && pc < m.end) {
                return m.module;
            }
        }
        if (attempt == 0) {
            refresh_mappings(cpu, asid);
        }
    }
    return -1;
}

int before_block_exec(CPUState* cpu, TranslationBlock* tb) {
    if (panda_in_kernel(cpu)) {
        return 0;
    }
    const uint64_t asid = panda_current_asid(cpu);
    const uint64_t pc = panda_tb_pc(tb);
    std::lock_guard<std::mutex> lock(mutex);
    if (!process_counted(cpu, asid)) {
        return 0;
    }
    auto [it, fresh] = block_index.emplace(std::make_pair(asid, pc), blocks.size());
    if (fresh) {
        blocks.push_back(Block{module_of(cpu, asid, pc), pc, panda_tb_size(tb), 0});
    }
    Block& b = blocks[it->second];
    if (b.size != panda_tb_size(tb)) {
        // The same start translated again with another length (code changed,
        // or a page boundary): count it as its own block.
        auto [again, added] = block_index.emplace(std::make_pair(asid ^ (uint64_t(panda_tb_size(tb)) << 52), pc),
                                                  blocks.size());
        if (added) {
            blocks.push_back(Block{b.module, pc, panda_tb_size(tb), 0});
        }
        blocks[again->second].count++;
        return 0;
    }
    b.count++;
    return 0;
}

int engine_changed(CPUState*, int) {
    std::lock_guard<std::mutex> lock(mutex);
    last_asid.clear();
    return 0;
}

// Blocks merged by (module, start, size) across address spaces.
std::map<std::tuple<int, uint64_t, uint32_t>, uint64_t> merged_blocks() {
    std::map<std::tuple<int, uint64_t, uint32_t>, uint64_t> out;
    for (const Block& b : blocks) {
        if (b.module >= 0) {
            out[{b.module, b.pc, b.size}] += b.count;
        }
    }
    return out;
}

void write_drcov() {
    FILE* out = std::fopen(drcov_path.c_str(), "wb");
    if (out == nullptr) {
        std::fprintf(stderr, "plugin 'coverage': cannot write %s: %s\n", drcov_path.c_str(), std::strerror(errno));
        return;
    }
    const auto merged = merged_blocks();
    std::fprintf(out, "DRCOV VERSION: 2\nDRCOV FLAVOR: hypanda\n");
    std::fprintf(out, "Module Table: version 2, count %zu\n", modules.size());
    std::fprintf(out, "Columns: id, base, end, entry, checksum, timestamp, path\n");
    for (size_t i = 0; i < modules.size(); i++) {
        std::fprintf(out, "%3zu, 0x%016" PRIx64 ", 0x%016" PRIx64 ", 0x0000000000000000, 0x00000000, 0x00000000, %s\n",
                     i, modules[i].base, modules[i].end, modules[i].path.c_str());
    }
    std::fprintf(out, "BB Table: %zu bbs\n", merged.size());
    for (const auto& [key, count] : merged) {
        const auto& [module, pc, size] = key;
        // struct { uint32 start (offset in the module); uint16 size; uint16 module id; }
        uint8_t entry[8];
        const uint32_t offset = static_cast<uint32_t>(pc - modules[module].base);
        const uint16_t size16 = static_cast<uint16_t>(std::min<uint32_t>(size, 0xffff));
        const uint16_t id = static_cast<uint16_t>(module);
        std::memcpy(entry, &offset, 4);
        std::memcpy(entry + 4, &size16, 2);
        std::memcpy(entry + 6, &id, 2);
        std::fwrite(entry, 1, sizeof entry, out);
    }
    std::fclose(out);
}

std::string base_name(const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The lowest PT_LOAD address of the ELF (page-aligned): what its lowest
// mapping's start corresponds to.
bool lowest_load(Elf* elf, uint64_t* lowest) {
    size_t count = 0;
    if (elf_getphdrnum(elf, &count) != 0) {
        return false;
    }
    bool any = false;
    for (size_t i = 0; i < count; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, static_cast<int>(i), &ph) != nullptr && ph.p_type == PT_LOAD) {
            const uint64_t start = ph.p_vaddr & ~uint64_t(0xfff);
            *lowest = any ? std::min(*lowest, start) : start;
            any = true;
        }
    }
    return any;
}

void write_lcov() {
    const auto fail = [](const std::string& why) {
        std::fprintf(stderr, "plugin 'coverage': lcov: %s\n", why.c_str());
    };
    // The module: the guest file named module=, or the one whose base name is the ELF's.
    const std::string wanted = module_filter.empty() ? base_name(elf_path) : module_filter;
    int module = -1;
    for (size_t i = 0; i < modules.size(); i++) {
        if (modules[i].path == wanted || (module_filter.empty() && base_name(modules[i].path) == wanted)) {
            module = static_cast<int>(i);
            break;
        }
    }
    FILE* out = std::fopen(lcov_path.c_str(), "w");
    if (out == nullptr) {
        fail("cannot write " + lcov_path + ": " + std::strerror(errno));
        return;
    }
    const int fd = open(elf_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        fail("cannot read " + elf_path + ": " + std::strerror(errno));
        std::fclose(out);
        return;
    }
    Dwarf* dwarf = dwarf_begin(fd, DWARF_C_READ);
    Elf* elf = dwarf == nullptr ? nullptr : dwarf_getelf(dwarf);
    uint64_t lowest = 0;
    if (dwarf == nullptr || elf == nullptr || !lowest_load(elf, &lowest)) {
        fail(elf_path + " is not an ELF program with DWARF line tables (build it with -g)");
        if (dwarf != nullptr) {
            dwarf_end(dwarf);
        }
        close(fd);
        std::fclose(out);
        return;
    }
    const uint64_t bias = module >= 0 ? modules[module].base - lowest : 0;

    // The module's blocks, by start address in the ELF's own addresses.
    std::vector<const Block*> mine;
    for (const Block& b : blocks) {
        if (b.module == module && module >= 0) {
            mine.push_back(&b);
        }
    }
    const auto runs_of = [&](uint64_t address) {
        uint64_t n = 0;
        for (const Block* b : mine) {
            if (address + bias >= b->pc && address + bias < b->pc + b->size) {
                n += b->count;
            }
        }
        return n;
    };

    // Every line with code, with its lowest address, per source file.
    std::map<std::string, std::map<int, uint64_t>> lines;
    Dwarf_Off offset = 0, next = 0;
    size_t header = 0;
    while (dwarf_nextcu(dwarf, offset, &next, &header, nullptr, nullptr, nullptr) == 0) {
        Dwarf_Die cu;
        Dwarf_Lines* table = nullptr;
        size_t count = 0;
        if (dwarf_offdie(dwarf, offset + header, &cu) != nullptr && dwarf_getsrclines(&cu, &table, &count) == 0) {
            Dwarf_Attribute attribute;
            const char* comp_dir = dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attribute));
            for (size_t i = 0; i < count; i++) {
                Dwarf_Line* line = dwarf_onesrcline(table, i);
                Dwarf_Addr address = 0;
                int number = 0;
                bool end_sequence = false;
                const char* file = dwarf_linesrc(line, nullptr, nullptr);
                if (file == nullptr || dwarf_lineaddr(line, &address) != 0 || dwarf_lineno(line, &number) != 0 ||
                    dwarf_lineendsequence(line, &end_sequence) != 0 || end_sequence || number <= 0) {
                    continue;
                }
                // A file named relative to the compiler's working directory.
                std::filesystem::path source(file);
                if (source.is_relative() && comp_dir != nullptr) {
                    source = (std::filesystem::path(comp_dir) / source).lexically_normal();
                }
                auto [it, fresh] = lines[source.string()].emplace(number, address);
                if (!fresh) {
                    it->second = std::min<uint64_t>(it->second, address);
                }
            }
        }
        offset = next;
    }
    dwarf_end(dwarf);
    close(fd);

    std::fprintf(out, "TN:\n");
    for (const auto& [file, numbers] : lines) {
        std::fprintf(out, "SF:%s\n", file.c_str());
        size_t hit = 0;
        for (const auto& [number, address] : numbers) {
            const uint64_t n = runs_of(address);
            hit += n != 0;
            std::fprintf(out, "DA:%d,%" PRIu64 "\n", number, n);
        }
        std::fprintf(out, "LH:%zu\nLF:%zu\nend_of_record\n", hit, numbers.size());
    }
    std::fclose(out);
    if (module < 0) {
        fail("no block ran in a guest file named '" + wanted + "' (module=): every line is written as not run");
    }
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    panda_arg_list* args = panda_get_args("coverage");
    process_filter = panda_parse_string_opt(args, "process", "", "count only this process (its name, as osi says)");
    drcov_path = panda_parse_string_opt(args, "drcov", "", "write drcov coverage to this file");
    lcov_path = panda_parse_string_opt(args, "lcov", "", "write an lcov tracefile to this file (needs elf=)");
    elf_path = panda_parse_string_opt(args, "elf", "", "the guest program's ELF, with DWARF, on the host");
    module_filter = panda_parse_string_opt(args, "module", "", "the guest's path of that program (default: "
                                                               "the mapped file with the ELF's base name)");
    panda_free_args(args);
    if (drcov_path.empty() && lcov_path.empty()) {
        std::fprintf(stderr, "plugin 'coverage': nothing to write: give drcov=FILE and/or lcov=FILE,elf=FILE\n");
        return false;
    }
    if (!lcov_path.empty() && elf_path.empty()) {
        std::fprintf(stderr, "plugin 'coverage': argument 'lcov': needs elf=FILE, the program's ELF with DWARF\n");
        return false;
    }
    if (!elf_path.empty() && access(elf_path.c_str(), R_OK) != 0) {
        std::fprintf(stderr, "plugin 'coverage': argument 'elf': cannot read %s: %s\n", elf_path.c_str(),
                     std::strerror(errno));
        return false;
    }
    for (const std::string* path : {&drcov_path, &lcov_path}) {
        if (path->empty()) {
            continue;
        }
        FILE* probe = std::fopen(path->c_str(), "w");  // fail now, not after the run
        if (probe == nullptr) {
            std::fprintf(stderr, "plugin 'coverage': cannot write %s: %s\n", path->c_str(), std::strerror(errno));
            return false;
        }
        std::fclose(probe);
    }
    elf_version(EV_CURRENT);
    if (panda_require("osi") == nullptr) {
        return false;
    }
    current_process = PANDA_IMPORT("osi", get_current_process);
    process_mappings = PANDA_IMPORT("osi", get_mappings);
    free_process = PANDA_IMPORT("osi", free_osiproc);

    panda_cb cb;
    cb.before_block_exec = before_block_exec;
    panda_register_callback(self, PANDA_CB_BEFORE_BLOCK_EXEC, cb);
    cb.engine_changed = engine_changed;
    panda_register_callback(self, PANDA_CB_ENGINE_CHANGED, cb);
    return true;
}

extern "C" void uninit_plugin(void*) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!drcov_path.empty()) {
        write_drcov();
    }
    if (!lcov_path.empty()) {
        write_lcov();
    }
    blocks.clear();
    block_index.clear();
    modules.clear();
    module_ids.clear();
    mappings_by_asid.clear();
    last_asid.clear();
}
