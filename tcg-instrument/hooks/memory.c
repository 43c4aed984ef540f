/*
 * The memory callbacks: virt_mem_read/write and phys_mem_read/write, on
 * after panda_enable_memcb(). While they are on, the generated code calls a
 * helper after each guest load and before each store (hypanda_gen_mem_*,
 * emitted from tcg-op.c), with the instruction's PC; the accesses QEMU's C
 * helpers make (descriptor tables, interrupt frames, ...) are reported from
 * cputlb.c's cpu_ld/cpu_st functions. Loads are reported after they happen,
 * with the value read; stores before they happen, with the value to be
 * written, once the page is known to be mapped and writable (so a store
 * that faults is reported only when it is retried and succeeds).
 *
 * In linux-user (hypanda-x86_64) the program's own loads and stores are
 * reported to the virtual-address callbacks; there are no physical
 * addresses, and the accesses QEMU's C code makes there are not reported.
 *
 * An access that crosses a page boundary is reported once to the virtual
 * callbacks (its full size, at its first byte's virtual address) and once
 * per page to the physical callbacks (each piece with its own physical
 * address, size and bytes).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/cpu_ldst.h"
#include "exec/exec-all.h"
#include "tcg/tcg.h"
#include "tcg/tcg-op.h"
#include "exec/helper-proto.h"
#include "exec/helper-gen.h"

#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/host.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

static bool memcb_on;
static __thread panda_mem_origin access_origin;
static __thread bool delivering;

bool hypanda_memcb_on(void)
{
    return memcb_on;
}

static void set_memcb(bool on)
{
    if (memcb_on == on) {
        return;
    }
    memcb_on = on;
    /* Retranslate: the generated code's loads and stores get (or lose)
     * their reporting calls, and each instruction's PC is stored for the
     * accesses helpers make. */
    hypanda_host_flush_translations();
}

void panda_enable_memcb(void)
{
    set_memcb(true);
}

void panda_disable_memcb(void)
{
    set_memcb(false);
}

panda_mem_origin panda_mem_access_origin(void)
{
    return access_origin;
}

void hypanda_delivering_interrupt(bool on)
{
    delivering = on;
}

#ifndef CONFIG_USER_ONLY
/* Guest-physical address of `addr` from the TLB entry the access just used
 * (or the page tables, if that entry has been replaced since). */
static uint64_t physical_address(CPUArchState *env, uint64_t addr, int mmu_idx)
{
    uintptr_t index = tlb_index(env, mmu_idx, addr);
    CPUTLBEntry *entry = tlb_entry(env, mmu_idx, addr);
    target_ulong page = addr & TARGET_PAGE_MASK;
    if ((entry->addr_read & TARGET_PAGE_MASK) == page ||
        (entry->addr_write & TARGET_PAGE_MASK) == page) {
        CPUTLBEntryFull *full = &env_tlb(env)->d[mmu_idx].fulltlb[index];
        return full->phys_addr + (addr & ~TARGET_PAGE_MASK);
    }
    return panda_virt_to_phys(env_cpu(env), addr);
}
#endif

static void report(CPUArchState *env, uint64_t pc, uint64_t addr, uint32_t oi, uint64_t value,
                   bool by_helper, bool write)
{
    const panda_cb_type virt = write ? PANDA_CB_VIRT_MEM_WRITE : PANDA_CB_VIRT_MEM_READ;
    const panda_cb_type phys = write ? PANDA_CB_PHYS_MEM_WRITE : PANDA_CB_PHYS_MEM_READ;
    if (!hypanda_wants(virt) && !hypanda_wants(phys)) {
        return;
    }
    CPUState *cpu = env_cpu(env);
    const uint64_t size = memop_size(get_memop(oi));
    const int mmu_idx = get_mmuidx(oi);
    /* The bytes as they are (or will be) in guest memory: guest and host
     * are little-endian. */
    uint8_t bytes[8];
    QEMU_BUILD_BUG_ON(HOST_BIG_ENDIAN);
    memcpy(bytes, &value, sizeof bytes);
    access_origin = delivering ? PANDA_MEM_BY_DELIVERY
                               : by_helper ? PANDA_MEM_BY_HELPER : PANDA_MEM_BY_INSN;
    cpu->hypanda_in_mem_cb = 1;
    if (hypanda_wants(virt)) {
        DISPATCH(virt, pc,
                 write ? c->cb.virt_mem_write(cpu, pc, addr, size, bytes)
                       : c->cb.virt_mem_read(cpu, pc, addr, size, bytes));
    }
#ifndef CONFIG_USER_ONLY /* linux-user has no physical addresses */
    if (hypanda_wants(phys)) {
        uint64_t first = MIN(size, TARGET_PAGE_SIZE - (addr & ~TARGET_PAGE_MASK));
        for (uint64_t done = 0; done < size;) {
            uint64_t piece = done == 0 ? first : size - done;
            uint64_t pa = physical_address(env, addr + done, mmu_idx);
            DISPATCH(phys, pc,
                     write ? c->cb.phys_mem_write(cpu, pc, pa, piece, bytes + done)
                           : c->cb.phys_mem_read(cpu, pc, pa, piece, bytes + done));
            done += piece;
        }
    }
#else
    (void)mmu_idx;
#endif
    cpu->hypanda_in_mem_cb = 0;
    access_origin = PANDA_MEM_BY_INSN;
}

/* Fault now if the store will fault, before reporting it. A store within
 * one page whose TLB entry is present for writing, with no watchpoint,
 * cannot fault: no probe needed (the usual case). */
void hypanda_probe_store(void *opaque, uint64_t addr, uint32_t oi, uintptr_t retaddr)
{
    CPUArchState *env = opaque;
    const uint64_t size = memop_size(get_memop(oi));
    const int mmu_idx = get_mmuidx(oi);
    uint64_t first = MIN(size, TARGET_PAGE_SIZE - (addr & ~TARGET_PAGE_MASK));
#ifndef CONFIG_USER_ONLY
    target_ulong tlb_addr = tlb_addr_write(tlb_entry(env, mmu_idx, addr));
    if (first == size && tlb_hit(tlb_addr, addr) && !(tlb_addr & TLB_WATCHPOINT)) {
        return;
    }
#endif
    probe_access(env, addr, first, MMU_DATA_STORE, mmu_idx, retaddr);
    if (first < size) {
        probe_access(env, addr + first, size - first, MMU_DATA_STORE, mmu_idx, retaddr);
    }
}

void hypanda_mem_read(void *env, uint64_t addr, uint32_t oi, uint64_t value)
{
    if (memcb_on) {
        report(env, env_cpu(env)->hypanda_guest_pc, addr, oi, value, true, false);
    }
}

void hypanda_mem_write(void *env, uint64_t addr, uint32_t oi, uint64_t value, uintptr_t retaddr)
{
    if (memcb_on) {
        hypanda_probe_store(env, addr, oi, retaddr);
        report(env, env_cpu(env)->hypanda_guest_pc, addr, oi, value, true, true);
    }
}

/* ---- The generated code's own accesses ----------------------------------- */

TCGv_i64 hypanda_gen_mem_prepare(TCGv_i64 addr)
{
    /* Only a load that will be reported needs its address kept. */
    if (!memcb_on ||
        (!hypanda_wants(PANDA_CB_VIRT_MEM_READ) && !hypanda_wants(PANDA_CB_PHYS_MEM_READ))) {
        return NULL;
    }
    TCGv_i64 copy = tcg_temp_new_i64();
    tcg_gen_mov_i64(copy, addr);
    return copy;
}

/* With only virtual-address callbacks registered, the generated code calls
 * them itself (translate.c); with physical ones, it goes through report()
 * (the physical address and page split are worked out there). Registering
 * either kind retranslates. */
static bool direct_calls(void)
{
    return !hypanda_wants(PANDA_CB_PHYS_MEM_READ) && !hypanda_wants(PANDA_CB_PHYS_MEM_WRITE);
}

void hypanda_gen_mem_load_i64(TCGv_i64 addr_copy, TCGv_i64 val, uint32_t oi)
{
    if (addr_copy == NULL) {
        return;
    }
    if (direct_calls()) {
        if (hypanda_wants(PANDA_CB_VIRT_MEM_READ)) {
            hypanda_gen_direct_mem_calls(PANDA_CB_VIRT_MEM_READ, addr_copy, val, oi);
        }
    } else {
        gen_helper_panda_mem_load(cpu_env, addr_copy, val, tcg_constant_i32(oi),
                                  tcg_constant_i64(hypanda_translating_insn_pc()));
    }
    tcg_temp_free_i64(addr_copy);
}

void hypanda_gen_mem_load_i32(TCGv_i64 addr_copy, TCGv_i32 val, uint32_t oi)
{
    if (addr_copy == NULL) {
        return;
    }
    TCGv_i64 wide = tcg_temp_new_i64();
    tcg_gen_extu_i32_i64(wide, val);
    hypanda_gen_mem_load_i64(addr_copy, wide, oi);
    tcg_temp_free_i64(wide);
}

void hypanda_gen_mem_store_i64(TCGv_i64 addr, TCGv_i64 val, uint32_t oi)
{
    if (!memcb_on) {
        return;
    }
    if (direct_calls()) {
        if (hypanda_wants(PANDA_CB_VIRT_MEM_WRITE)) {
            gen_helper_panda_mem_probe_store(cpu_env, addr, tcg_constant_i32(oi));
            hypanda_gen_direct_mem_calls(PANDA_CB_VIRT_MEM_WRITE, addr, val, oi);
        }
    } else {
        gen_helper_panda_mem_store(cpu_env, addr, val, tcg_constant_i32(oi),
                                   tcg_constant_i64(hypanda_translating_insn_pc()));
    }
}

void hypanda_gen_mem_store_i32(TCGv_i64 addr, TCGv_i32 val, uint32_t oi)
{
    if (!memcb_on) {
        return;
    }
    TCGv_i64 wide = tcg_temp_new_i64();
    tcg_gen_extu_i32_i64(wide, val);
    hypanda_gen_mem_store_i64(addr, wide, oi);
    tcg_temp_free_i64(wide);
}

void hypanda_report_generated_access(void *env, uint64_t pc, uint64_t addr, uint32_t oi,
                                     uint64_t value, bool write, uintptr_t retaddr)
{
    if (write) {
        hypanda_probe_store(env, addr, oi, retaddr);
    }
    report(env, pc, addr, oi, value, false, write);
}
