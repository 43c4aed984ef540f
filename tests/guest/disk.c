/*
 * disk N: reads sectors 0..N-1 of the primary ATA master with PIO
 * (READ SECTORS, LBA28) and returns FNV-1a over their bytes. Every wait on
 * the drive is bounded, so a missing or broken disk is an ERROR, not a hang.
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

uint64_t workload_disk(uint64_t sectors)
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
    outb(ATA_COMMAND, 0x20); /* READ SECTORS */

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
