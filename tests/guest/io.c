/*
 * io N: port and MMIO accesses whose results are fixed by the PC machine:
 * the 16550's scratch register and CMOS NVRAM bytes (written, then read
 * back), PCI configuration space of the host bridge, and the IOAPIC's
 * version and redirection registers. model.h gives the exact sequence. No
 * SSE, no interrupts, no IRETQ: this workload runs under this machine's KVM.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"
#include "model.h"
#include "workloads.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define PCI_ADDRESS 0xcf8
#define PCI_DATA 0xcfc
#define IOAPIC_BASE 0xfec00000ull
#define IOAPIC_SELECT 0x00
#define IOAPIC_WINDOW 0x10

static uint8_t cmos_read(uint8_t index)
{
    outb(CMOS_INDEX, index);
    return inb(CMOS_DATA);
}

static void cmos_write(uint8_t index, uint8_t v)
{
    outb(CMOS_INDEX, index);
    outb(CMOS_DATA, v);
}

static uint32_t ioapic_read(uint32_t reg)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_SELECT, reg);
    return mmio_read32(IOAPIC_BASE + IOAPIC_WINDOW);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_SELECT, reg);
    mmio_write32(IOAPIC_BASE + IOAPIC_WINDOW, v);
}

uint64_t workload_io(uint64_t n)
{
    const uint32_t redir_low = 0x10 + 2 * HP_IO_IOAPIC_PIN;
    uint32_t saved_redir = ioapic_read(redir_low);
    uint64_t sum = HP_FNV_OFFSET;

    sum = hp_fnv_u64(sum, cmos_read(0x15));
    sum = hp_fnv_u64(sum, cmos_read(0x16));
    for (uint64_t i = 0; i < n; i++) {
        outb(HP_IO_SCRATCH_PORT, hp_io_scratch_value(i));
        sum = hp_fnv_u64(sum, inb(HP_IO_SCRATCH_PORT));

        cmos_write(hp_io_cmos_index(i), hp_io_cmos_value(i));
        sum = hp_fnv_u64(sum, cmos_read(hp_io_cmos_index(i)));

        outl(PCI_ADDRESS, 0x80000000u); /* bus 0, device 0, function 0, register 0 */
        sum = hp_fnv_u64(sum, inl(PCI_DATA));

        sum = hp_fnv_u64(sum, (ioapic_read(0x01) >> 16) & 0xff);

        ioapic_write(redir_low, hp_io_redir_value(i));
        sum = hp_fnv_u64(sum, ioapic_read(redir_low));
    }
    ioapic_write(redir_low, saved_redir);
    return sum;
}
