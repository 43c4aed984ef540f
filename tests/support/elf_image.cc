// The test guest's ELF image (see elf.h), read with <elf.h>'s structures.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "elf_image.h"

#include <elf.h>

#include <cstring>

#include "run.h"

namespace hypanda::test {

ElfImage ElfImage::load(const std::string& path) {
    ElfImage image;
    std::string data = read_file(path);
    image.file.assign(data.begin(), data.end());
    if (image.file.size() < sizeof(Elf64_Ehdr) || std::memcmp(image.file.data(), ELFMAG, SELFMAG) != 0 ||
        image.file[EI_CLASS] != ELFCLASS64) {
        return image;
    }
    Elf64_Ehdr eh;
    std::memcpy(&eh, image.file.data(), sizeof eh);
    for (int i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh;
        std::memcpy(&sh, image.file.data() + eh.e_shoff + i * eh.e_shentsize, sizeof sh);
        if (sh.sh_type != SHT_SYMTAB) {
            continue;
        }
        Elf64_Shdr strtab;
        std::memcpy(&strtab, image.file.data() + eh.e_shoff + sh.sh_link * eh.e_shentsize, sizeof strtab);
        for (size_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); k++) {
            Elf64_Sym sym;
            std::memcpy(&sym, image.file.data() + sh.sh_offset + k * sizeof sym, sizeof sym);
            if (sym.st_name == 0 || sym.st_shndx == SHN_UNDEF) {
                continue;
            }
            image.symbols[reinterpret_cast<const char*>(image.file.data() + strtab.sh_offset + sym.st_name)] =
                sym.st_value;
        }
    }
    return image;
}

std::vector<uint8_t> ElfImage::bytes_at(uint64_t vaddr, size_t n) const {
    Elf64_Ehdr eh;
    std::memcpy(&eh, file.data(), sizeof eh);
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        std::memcpy(&ph, file.data() + eh.e_phoff + i * eh.e_phentsize, sizeof ph);
        if (ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr && vaddr + n <= ph.p_vaddr + ph.p_filesz) {
            size_t off = ph.p_offset + (vaddr - ph.p_vaddr);
            return std::vector<uint8_t>(file.begin() + off, file.begin() + off + n);
        }
    }
    return {};
}

const ElfImage& guest_image() {
    static ElfImage image = ElfImage::load(build_root() + "/tests/guest/hptest64.elf");
    return image;
}

uint64_t guest_symbol(const std::string& name) { return guest_image().symbols.at(name); }

uint64_t guest_count_loop_label() {
    uint64_t label = guest_symbol("hp_count_loop") + 5;  // xor (2 bytes), mov (3 bytes)
    const std::vector<uint8_t> add_rcx_rax = {0x48, 0x01, 0xc8};
    return guest_image().bytes_at(label, 3) == add_rcx_rax ? label : 0;
}

uint64_t ElfImage::next_symbol_after(uint64_t vaddr) const {
    uint64_t best = 0;
    for (const auto& [name, addr] : symbols) {
        if (addr > vaddr && (best == 0 || addr < best)) {
            best = addr;
        }
    }
    return best;
}

}  // namespace hypanda::test
