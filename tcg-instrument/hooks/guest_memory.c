/*
 * Guest memory for plugins in the system emulator: physical and virtual
 * reads and writes, and the physical-memory image (panda_memsavep). Access
 * is RAM-only: a range that touches device memory fails as a whole and
 * writes nothing, so a plugin never triggers a device side effect.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/rcu.h"
#include "cpu.h"
#include "exec/address-spaces.h"
#include "exec/cpu_ldst.h"
#include "exec/exec-all.h"
#include "exec/memory.h"
#include "hw/boards.h"

#include "hypanda/tcg-instrument/rr/hooks.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

/* Whether [addr, addr+len) is all RAM (writable RAM when is_write). */
static bool is_ram_range(hwaddr addr, hwaddr len, bool is_write)
{
    RCU_READ_LOCK_GUARD();
    while (len > 0) {
        hwaddr xlat, l = len;
        MemoryRegion *mr = address_space_translate(&address_space_memory, addr, &xlat, &l,
                                                   is_write, MEMTXATTRS_UNSPECIFIED);
        if (!memory_region_is_ram(mr) || memory_region_is_ram_device(mr) ||
            (is_write && mr->readonly)) {
            return false;
        }
        addr += l;
        len -= l;
    }
    return true;
}

int panda_physical_memory_rw(target_phys_addr_t addr, uint8_t *buf, int len, int is_write)
{
    if (buf == NULL || len < 0 || addr + (uint64_t)len < addr) {
        return -1;
    }
    if (!is_ram_range(addr, len, is_write)) {
        return -1;
    }
    const bool device_access = hypanda_rr_plugin_access_begin();
    MemTxResult r = address_space_rw(&address_space_memory, addr, MEMTXATTRS_UNSPECIFIED, buf, len,
                                     is_write);
    hypanda_rr_plugin_access_end(device_access);
    return r == MEMTX_OK ? 0 : -1;
}

target_ulong panda_virt_to_phys(CPUState *cpu, target_ulong addr)
{
    MemTxAttrs attrs;
    hwaddr page = cpu_get_phys_page_attrs_debug(cpu, addr & TARGET_PAGE_MASK, &attrs);
    if (page == (hwaddr)-1) {
        return (target_ulong)-1;
    }
    return page + (addr & ~TARGET_PAGE_MASK);
}

target_ulong panda_virt_to_phys_tlb(CPUState *cpu, target_ulong addr, int mmu_idx, bool is_write)
{
    if (cpu == NULL || mmu_idx < 0 || mmu_idx >= NB_MMU_MODES) {
        return (target_ulong)-1;
    }
    CPUArchState *env = cpu->env_ptr;
    CPUTLBEntry *entry = tlb_entry(env, mmu_idx, addr);
    const target_ulong tag = is_write ? tlb_addr_write(entry) : entry->addr_read;
    if ((tag & (TARGET_PAGE_MASK | TLB_INVALID_MASK)) != (addr & TARGET_PAGE_MASK)) {
        return (target_ulong)-1;
    }
    /* fulltlb's phys_addr: the guest physical address of this TARGET_PAGE
     * (a large page's entries are made a TARGET_PAGE at a time). */
    const hwaddr page = env_tlb(env)->d[mmu_idx].fulltlb[tlb_index(env, mmu_idx, addr)].phys_addr;
    return (page & TARGET_PAGE_MASK) + (addr & ~TARGET_PAGE_MASK);
}

int panda_virtual_memory_rw(CPUState *cpu, target_ulong addr, uint8_t *buf, int len, int is_write)
{
    if (cpu == NULL || buf == NULL || len < 0) {
        return -1;
    }
    /* Check every page first, so a failure writes nothing. */
    for (int done = 0; done < len;) {
        target_ulong va = addr + done;
        int chunk = MIN(len - done, (int)(TARGET_PAGE_SIZE - (va & ~TARGET_PAGE_MASK)));
        target_ulong pa = panda_virt_to_phys(cpu, va);
        if (pa == (target_ulong)-1 || !is_ram_range(pa, chunk, is_write)) {
            return -1;
        }
        done += chunk;
    }
    for (int done = 0; done < len;) {
        target_ulong va = addr + done;
        int chunk = MIN(len - done, (int)(TARGET_PAGE_SIZE - (va & ~TARGET_PAGE_MASK)));
        if (panda_physical_memory_rw(panda_virt_to_phys(cpu, va), buf + done, chunk, is_write) < 0) {
            return -1;
        }
        done += chunk;
    }
    return 0;
}

void panda_memsavep(FILE *out)
{
    MemoryRegion *ram = current_machine ? current_machine->ram : NULL;
    if (out == NULL || ram == NULL) {
        error_report("panda_memsavep: %s", out == NULL ? "no file given" : "this machine has no RAM");
        return;
    }
    uint8_t *host = memory_region_get_ram_ptr(ram);
    uint64_t size = memory_region_size(ram);
    /* Guest RAM in the machine's own order (on a PC: below 4 GiB, then
     * above), read from its host mapping: no device is touched, nothing in
     * the guest changes. */
    if (fwrite(host, 1, size, out) != size || fflush(out) != 0) {
        error_report("panda_memsavep: writing %" PRIu64 " bytes of RAM failed: %s", size,
                     strerror(errno));
    }
}
