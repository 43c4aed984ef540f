/*
 * Record/replay's call sites in QEMU (patch 0012), implemented in
 * rr/system/ (docs/recording.md). Each site costs one test of
 * hypanda_rr_mode while nothing is recorded or replayed.
 *
 * Counts are the recording's: guest instructions completed since it began.
 * `ra` is a helper's return address into generated code (GETPC()), from
 * which the instruction inside its block is found; 0 at a block boundary.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_RR_HOOKS_H
#define HYPANDA_RR_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include "hypanda/tcg-instrument/rr/engine.h"

typedef struct CPUState CPUState;

enum { HYPANDA_RR_OFF = 0, HYPANDA_RR_RECORDING = 1, HYPANDA_RR_REPLAYING = 2 };
#ifndef HYPANDA_RR_MODE_DECLARED
#define HYPANDA_RR_MODE_DECLARED
extern int hypanda_rr_mode;
#endif
/* cpu->hypanda_icount where the recording's count is 0. */
extern uint64_t hypanda_rr_base;

/* Where an entry was made (the log's call site). */
enum {
    HYPANDA_RR_SITE_PORT_IN = 1,   /* target/i386/tcg/sysemu/misc_helper.c, in* */
    HYPANDA_RR_SITE_MMIO = 2,      /* accel/tcg/cputlb.c, io_readx */
    HYPANDA_RR_SITE_RDTSC = 3,     /* target/i386/tcg/misc_helper.c, rdtsc/rdtscp */
    HYPANDA_RR_SITE_RDRAND = 4,    /* target/i386/tcg/int_helper.c */
    HYPANDA_RR_SITE_INTERRUPT = 5, /* accel/tcg/cpu-exec.c, an interrupt taken */
    HYPANDA_RR_SITE_INIT = 6,      /* accel/tcg/cpu-exec.c, INIT taken */
    HYPANDA_RR_SITE_DMA = 7,       /* softmmu/physmem.c, during a device access */
    HYPANDA_RR_SITE_DMA_ASYNC = 8, /* softmmu/physmem.c, another thread: between blocks */
};

/* An input from outside CPU + RAM. Recording: logs `value` and returns it.
 * Replaying: returns the logged value, after checking that the log's next
 * entry is this one (a divergence ends the replay). */
uint64_t hypanda_rr_input_slow(CPUState *cpu, uint8_t kind, uint32_t site, uint64_t addr,
                               uint8_t size, uintptr_t ra, uint64_t value);
static inline uint64_t hypanda_rr_input(CPUState *cpu, uint8_t kind, uint32_t site,
                                        uint64_t addr, uint8_t size, uintptr_t ra,
                                        uint64_t value)
{
    if (__builtin_expect(hypanda_rr_mode != HYPANDA_RR_OFF, 0)) {
        return hypanda_rr_input_slow(cpu, kind, site, addr, size, ra, value);
    }
    return value;
}

/* Before a device read (port or MMIO). Recording notes the instruction
 * (RAM the device writes meanwhile is logged there) and returns false:
 * read it, then pass the value through hypanda_rr_input. Replay returns
 * true with the logged value in *value: the device is not read. */
bool hypanda_rr_device_read_slow(CPUState *cpu, uint8_t kind, uint32_t site, uint64_t addr,
                                 uint8_t size, uintptr_t ra, uint64_t *value);
static inline bool hypanda_rr_device_read(CPUState *cpu, uint8_t kind, uint32_t site,
                                          uint64_t addr, uint8_t size, uintptr_t ra,
                                          uint64_t *value)
{
    if (__builtin_expect(hypanda_rr_mode != HYPANDA_RR_OFF, 0)) {
        return hypanda_rr_device_read_slow(cpu, kind, site, addr, size, ra, value);
    }
    return false;
}

/* A write to a device (port or MMIO), which devices get in replay too:
 * their state, memory mappings among it, follows the guest's. Notes the
 * instruction: RAM the device writes meanwhile is logged there, and a
 * recording the device ends (isa-debug-exit) ends there. Replay writes
 * what the log has for it first. */
void hypanda_rr_device_write_slow(CPUState *cpu, uintptr_t ra);
static inline void hypanda_rr_device_write(CPUState *cpu, uintptr_t ra)
{
    if (__builtin_expect(hypanda_rr_mode != HYPANDA_RR_OFF, 0)) {
        hypanda_rr_device_write_slow(cpu, ra);
    }
}

/* softmmu/physmem.c, a write into RAM through the memory API: a device's
 * (DMA) when it is not the vCPU's thread or the vCPU is in a device
 * access. Recording logs those; replay skips them (true), the log's
 * bytes being written instead. */
bool hypanda_rr_device_ram_write_slow(uint64_t addr, const void *buf, uint64_t len);
static inline bool hypanda_rr_device_ram_write(uint64_t addr, const void *buf, uint64_t len)
{
    if (__builtin_expect(hypanda_rr_mode != HYPANDA_RR_OFF, 0)) {
        return hypanda_rr_device_ram_write_slow(addr, buf, len);
    }
    return false;
}

/* softmmu/physmem.c, a read of RAM through the memory API, and
 * address_space_map() for reading: a device's when it is not the vCPU's
 * thread or the vCPU is in a device access. Recording logs where and how
 * much (a dma-read entry, for replay_before_cpu_physical_mem_rw_ram). */
void hypanda_rr_device_ram_read_slow(uint64_t addr, uint64_t len);
static inline void hypanda_rr_device_ram_read(uint64_t addr, uint64_t len)
{
    if (__builtin_expect(hypanda_rr_mode == HYPANDA_RR_RECORDING, 0)) {
        hypanda_rr_device_ram_read_slow(addr, len);
    }
}

/* hooks/guest_memory.c, around a plugin's access to guest RAM
 * (panda_physical_memory_rw): a plugin is not a device, so recording must
 * not log what it reads or writes as DMA, even when its callback runs in a
 * block whose device access is not over yet (that state lasts to the
 * block's end). Returns what _end restores. */
bool hypanda_rr_plugin_access_begin(void);
void hypanda_rr_plugin_access_end(bool device_access);

/* softmmu/dma-helpers.c and hw/block/virtio-blk.c: a disk transfer about
 * to start, between the disk at byte `offset` and the buffers `iov` (guest
 * RAM, or the bounce buffers standing for it while recording). Recording
 * logs a disk entry per buffer (for replay_hd_transfer). */
struct iovec;
void hypanda_rr_disk_transfer_slow(bool to_ram, uint64_t offset, const struct iovec *iov, int n);
static inline void hypanda_rr_disk_transfer(bool to_ram, uint64_t offset, const struct iovec *iov, int n)
{
    if (__builtin_expect(hypanda_rr_mode == HYPANDA_RR_RECORDING, 0)) {
        hypanda_rr_disk_transfer_slow(to_ram, offset, iov, n);
    }
}

/* net/net.c, a frame delivered: to a NIC (received by the guest) or from
 * one (sent). Recording logs it (a packet entry, for replay_handle_packet);
 * in replay no back-end exists and the log's frames are all there is. */
typedef struct NetClientState NetClientState;
void hypanda_rr_packet_slow(NetClientState *sender, NetClientState *receiver, const struct iovec *iov, int n);
static inline void hypanda_rr_packet(NetClientState *sender, NetClientState *receiver,
                                     const struct iovec *iov, int n)
{
    if (__builtin_expect(hypanda_rr_mode == HYPANDA_RR_RECORDING, 0)) {
        hypanda_rr_packet_slow(sender, receiver, iov, n);
    }
}

/* (include/exec/memory.h, patch 0015, declares hypanda_rr_cached_write:
 * a device's write into RAM through a MemoryRegionCache, as
 * hypanda_rr_device_ram_write.) */

/* The interrupt vector the PIC/APIC answered (x86 cpu_get_pic_interrupt):
 * recorded with the interrupt; in replay the recorded one. */
int hypanda_rr_vector_slow(CPUState *cpu, int vector);
static inline int hypanda_rr_vector(CPUState *cpu, int vector)
{
    if (__builtin_expect(hypanda_rr_mode != HYPANDA_RR_OFF, 0)) {
        return hypanda_rr_vector_slow(cpu, vector);
    }
    return vector;
}

/* softmmu/physmem.c, address_space_map() of RAM for a device to write
 * from another thread than the vCPU's (the block layer's DMA): while
 * recording or replaying, a buffer of Hypanda's instead of guest RAM (NULL:
 * map RAM as usual). hypanda_rr_dma_unmap() takes such a buffer back (true)
 * and its `access_len` written bytes reach RAM as other DMA does (recording;
 * at once when the recording has ended; never in replay). */
extern int hypanda_rr_bounces;
void *hypanda_rr_dma_map_slow(uint64_t addr, uint64_t len, bool is_write);
static inline void *hypanda_rr_dma_map(uint64_t addr, uint64_t len, bool is_write)
{
    if (__builtin_expect(hypanda_rr_mode != HYPANDA_RR_OFF, 0)) {
        return hypanda_rr_dma_map_slow(addr, len, is_write);
    }
    return NULL;
}
bool hypanda_rr_dma_unmap_slow(void *buffer, uint64_t access_len);
static inline bool hypanda_rr_dma_unmap(void *buffer, uint64_t access_len)
{
    if (__builtin_expect(__atomic_load_n(&hypanda_rr_bounces, __ATOMIC_ACQUIRE) != 0, 0)) {
        return hypanda_rr_dma_unmap_slow(buffer, access_len);
    }
    return false;
}

/* Between blocks (cpu_handle_interrupt(), before it looks at
 * interrupt_request, and a halted vCPU's check for work). Recording logs
 * the RAM devices wrote from other threads. Replay writes it, makes the
 * devices' interrupt lines the log's, and ends (the emulator exits) when
 * the recording's last instruction is reached. */
void hypanda_rr_boundary_slow(CPUState *cpu);
static inline void hypanda_rr_boundary(CPUState *cpu)
{
    if (__builtin_expect(hypanda_rr_mode != HYPANDA_RR_OFF, 0)) {
        hypanda_rr_boundary_slow(cpu);
    }
}

/* cpu_handle_interrupt(), the target took an interrupt request:
 * `request` is interrupt_request when it did. */
void hypanda_rr_interrupt_taken_slow(CPUState *cpu, uint32_t request, uint32_t site);
static inline void hypanda_rr_interrupt_taken(CPUState *cpu, uint32_t request, uint32_t site)
{
    if (__builtin_expect(hypanda_rr_mode != HYPANDA_RR_OFF, 0)) {
        hypanda_rr_interrupt_taken_slow(cpu, request, site);
    }
}

/* cpu_exec(), the cflags of the block about to be looked up: in replay a
 * block must end exactly where the next interrupt or the end is due, so
 * its length is bounded there (generated code checks the limit too,
 * translate.c). */
void hypanda_rr_bound_block_slow(CPUState *cpu, uint32_t *cflags);
static inline void hypanda_rr_bound_block(CPUState *cpu, uint32_t *cflags)
{
    if (__builtin_expect(hypanda_rr_mode == HYPANDA_RR_REPLAYING, 0)) {
        hypanda_rr_bound_block_slow(cpu, cflags);
    }
}

/* accel/tcg/cpu-exec.c, cpu_loop_exec_tb(): `tb` left through its
 * exit-request path, for an exit request or at the replay's limit. In the
 * second case it may have counted itself already (translate.c), which is
 * taken back: whether an exit request came meanwhile or not. */
typedef struct TranslationBlock TranslationBlock;
void hypanda_rr_limit_exit_slow(CPUState *cpu, const TranslationBlock *tb);
static inline void hypanda_rr_limit_exit(CPUState *cpu, const TranslationBlock *tb)
{
    if (__builtin_expect(hypanda_rr_mode == HYPANDA_RR_REPLAYING, 0)) {
        hypanda_rr_limit_exit_slow(cpu, tb);
    }
}

/* accel/tcg/tcg-accel-ops.c, tcg_handle_interrupt(): the interrupt
 * request bits devices may raise now (in replay only the log raises
 * them). */
int hypanda_rr_device_interrupt_mask_slow(int mask);
static inline int hypanda_rr_device_interrupt_mask(int mask)
{
    if (__builtin_expect(hypanda_rr_mode == HYPANDA_RR_REPLAYING, 0)) {
        return hypanda_rr_device_interrupt_mask_slow(mask);
    }
    return mask;
}

/* Whether generated code checks the replay's instruction limit
 * (translate.c). */
static inline bool hypanda_rr_replaying(void)
{
    return hypanda_rr_mode == HYPANDA_RR_REPLAYING;
}

/* softmmu/vl.c: -record-from SNAPSHOT:NAME and -replay NAME while parsing
 * options; hypanda_rr_startup() after -loadvm's place, with the machine
 * made and reset. */
void hypanda_cmdline_record_from(const char *optarg);
void hypanda_cmdline_replay(const char *optarg);
/* -replay-result FILE: the replay's outcome as JSON (rr/result.h). */
void hypanda_cmdline_replay_result(const char *optarg);
void hypanda_rr_startup(void);

/* softmmu/vl.c, before options are parsed: keeps the command line for
 * the manifest; for -replay NAME, puts the recorded machine's options in
 * front of the others (exits with one error line when the recording's
 * manifest cannot be read). */
void hypanda_rr_replay_arguments(int *argc, char ***argv);

/* The rest is Hypanda's own: the emulator ending (host_system.c); QMP
 * begin-record/end-record and HMP begin_record NAME / end_record. Hybrid
 * mode's switches (a recording asked for under KVM starts in TCG, and ends
 * when the guest goes back) and the hypercall device's recording commands
 * reach rr/system/ through what hypanda_rr_startup() subscribes to
 * (hypervisor/hybrid.h, hypervisor/hypercall_device.h). */
void hypanda_rr_shutdown(void);
void hypanda_rr_register_qmp(void);
typedef struct Monitor Monitor;
typedef struct QDict QDict;
void hmp_begin_record(Monitor *mon, const QDict *qdict);
void hmp_end_record(Monitor *mon, const QDict *qdict);

#endif
