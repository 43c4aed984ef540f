/*
 * disk N: reads sectors 0..N-1 of the primary ATA master with PIO
 * (READ SECTORS, LBA28) and returns FNV-1a over their bytes. diskdma N: the
 * same with the PIIX IDE controller's bus-master DMA (READ DMA), so the
 * emulator's block layer writes guest RAM. Every wait on the drive is
 * bounded, so a missing or broken disk is an ERROR, not a hang.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"
#include "console.h"
#include "model.h"
#include "workloads.h"

#define ATA_DATA 0x1f0
#define ATA_COUNT 0x1f2
#define ATA_LBA0 0x1f3
#define ATA_LBA1 0x1f4
#define ATA_LBA2 0x1f5
#define ATA_DRIVE 0x1f6
#define ATA_STATUS 0x1f7
#define ATA_COMMAND 0x1f7
#define ATA_ALT_STATUS 0x3f6

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_BSY 0x80

#define WAIT_SPINS 10000000

/* Waits until BSY clears and (if `want_drq`) DRQ sets; fails on ERR. */
static void ata_wait(int want_drq, const char *what)
{
    for (int spins = 0; spins < WAIT_SPINS; spins++) {
        uint8_t st = inb(ATA_STATUS);
        if (st == 0xff || st == 0x00) {
            hp_error_begin();
            con_puts("disk: no ATA drive on the primary channel (status ");
            con_put_hex(st);
            con_puts("); attach one, e.g. -drive file=disk.img,format=raw,if=ide,index=0");
            hp_error_end(HP_EXIT_WORKLOAD_FAILED);
        }
        if (st & ST_BSY) {
            continue;
        }
        if (st & ST_ERR) {
            hp_error_begin();
            con_puts("disk: the drive reported an error while ");
            con_puts(what);
            con_puts(", error register ");
            con_put_hex(inb(0x1f1));
            hp_error_end(HP_EXIT_WORKLOAD_FAILED);
        }
        if (!want_drq || (st & ST_DRQ)) {
            return;
        }
    }
    hp_error_begin();
    con_puts("disk: timed out ");
    con_puts(what);
    hp_error_end(HP_EXIT_WORKLOAD_FAILED);
}

/* Selects the master and issues `command` for `sectors` from LBA 0. */
static void ata_command(uint64_t sectors, uint8_t command)
{
    outb(ATA_DRIVE, 0xe0); /* master, LBA mode, LBA bits 24-27 = 0 */
    for (int i = 0; i < 4; i++) {
        (void)inb(ATA_ALT_STATUS); /* the 400 ns settle after selecting */
    }
    ata_wait(0, "selecting the drive");
    outb(ATA_COUNT, (uint8_t)sectors); /* 0 means 256 */
    outb(ATA_LBA0, 0);
    outb(ATA_LBA1, 0);
    outb(ATA_LBA2, 0);
    outb(ATA_COMMAND, command);
}

uint64_t workload_disk(uint64_t sectors)
{
    ata_command(sectors, 0x20); /* READ SECTORS */

    uint64_t sum = HP_FNV_OFFSET;
    for (uint64_t s = 0; s < sectors; s++) {
        ata_wait(1, "reading a sector");
        for (uint32_t w = 0; w < HP_DISK_SECTOR / 2; w++) {
            uint16_t v = inw(ATA_DATA);
            sum = hp_fnv_byte(sum, (uint8_t)v);
            sum = hp_fnv_byte(sum, (uint8_t)(v >> 8));
        }
    }
    return sum;
}

/* ---- diskdma N ---- */

#define PCI_ADDRESS 0xcf8
#define PCI_DATA 0xcfc
#define PIIX_IDE 0x00000900u /* bus 0, device 1, function 1 */
#define PIIX3_IDE_ID 0x70108086u
#define BM_COMMAND 0 /* bus-master registers, from BAR4 */
#define BM_STATUS 2
#define BM_PRD 4
#define BM_START 0x01
#define BM_TO_MEMORY 0x08
#define BM_ACTIVE 0x01
#define BM_ERROR 0x02
#define ATA_NIEN 0x02 /* device control: no interrupt */

static uint32_t pci_read(uint32_t reg)
{
    outl(PCI_ADDRESS, 0x80000000u | PIIX_IDE | reg);
    return inl(PCI_DATA);
}

static void pci_write(uint32_t reg, uint32_t v)
{
    outl(PCI_ADDRESS, 0x80000000u | PIIX_IDE | reg);
    outl(PCI_DATA, v);
}

/* One physical region: 64 KiB aligned, so it crosses no 64 KiB line. */
static uint8_t dma_buffer[HP_DISKDMA_MAX * HP_DISK_SECTOR] __attribute__((aligned(65536)));
static uint32_t prd[2] __attribute__((aligned(8)));

static void dma_fail(const char *what, uint64_t value)
{
    hp_error_begin();
    con_puts("diskdma: ");
    con_puts(what);
    con_put_hex(value);
    hp_error_end(HP_EXIT_WORKLOAD_FAILED);
}

uint64_t workload_diskdma(uint64_t sectors)
{
    const uint32_t id = pci_read(0);
    if (id != PIIX3_IDE_ID) {
        dma_fail("no PIIX3 IDE controller at 00:01.1, its id is ", id);
    }
    pci_write(4, (pci_read(4) & 0xffff) | 0x5); /* I/O space and bus master on */
    const uint16_t bm = (uint16_t)(pci_read(0x20) & 0xfff0);
    if (bm == 0) {
        dma_fail("the bus-master BAR is not assigned: ", pci_read(0x20));
    }
    for (uint64_t i = 0; i < sectors * HP_DISK_SECTOR; i++) {
        dma_buffer[i] = 0;
    }
    prd[0] = (uint32_t)(uintptr_t)dma_buffer;
    prd[1] = (uint32_t)(sectors * HP_DISK_SECTOR) | 0x80000000u; /* last entry */
    outb(ATA_ALT_STATUS, ATA_NIEN);
    outb(bm + BM_COMMAND, 0);
    outb(bm + BM_STATUS, 0x06); /* clear error and interrupt */
    outl(bm + BM_PRD, (uint32_t)(uintptr_t)prd);
    outb(bm + BM_COMMAND, BM_TO_MEMORY);
    ata_command(sectors, 0xc8); /* READ DMA */
    outb(bm + BM_COMMAND, BM_TO_MEMORY | BM_START);
    uint8_t st = BM_ACTIVE;
    for (int spins = 0; spins < WAIT_SPINS && (st & BM_ACTIVE); spins++) {
        st = inb(bm + BM_STATUS);
    }
    outb(bm + BM_COMMAND, 0);
    if (st & (BM_ACTIVE | BM_ERROR)) {
        dma_fail("the transfer did not complete, bus-master status ", st);
    }
    ata_wait(0, "finishing the DMA transfer");
    uint64_t sum = HP_FNV_OFFSET;
    for (uint64_t i = 0; i < sectors * HP_DISK_SECTOR; i++) {
        sum = hp_fnv_byte(sum, dma_buffer[i]);
    }
    return sum;
}
