/*
 * Record/replay (state.h): what devices do. What they put into RAM while
 * recording is held back for the vCPU to write and log where the guest can
 * first see it, and skipped in replay, where the log has it: writes through
 * the memory API, maps of RAM for writing (bounce buffers), and writes
 * through a MemoryRegionCache (virtio's rings). What they read from RAM,
 * disk transfers and network frames are logged beside, for replay's
 * callbacks (replay_before_cpu_physical_mem_rw_ram, replay_hd_transfer,
 * replay_handle_packet).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/exec-all.h"
#include "exec/ramblock.h"
#include "hw/boards.h"
#include "io/channel-buffer.h"
#include "migration/qemu-file.h"
#include "migration/snapshot.h"
#include "migration/vmstate.h"
#include "monitor/monitor.h"
#include "monitor/monitor-internal.h"
#include "qapi/error.h"
#include "qapi/qmp/dispatch.h"
#include "qapi/qmp/qdict.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "sysemu/cpus.h"
#include "sysemu/hw_accel.h"
#include "sysemu/runstate.h"
#include "sysemu/tcg.h"
#include "tcg/tcg.h"

#include <sys/mman.h>
#include <xxhash.h>

#include "hypanda/hypervisor/hybrid.h"
#include "hypanda/hypervisor/hypercall_device.h"
#include "hypanda/hypervisor/qmp_args.h"
#include "hypanda/include/panda/hypercall.h"
#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"
#include "exec/address-spaces.h"
#include "net/net.h"

#include "hypanda/tcg-instrument/rr/system/state.h"

/* What devices did from other threads while recording waits for the vCPU,
 * which writes (a DMA write) and logs it at its next block boundary or device
 * access, whichever comes first: the guest cannot see it before the
 * instruction the log names, and sees it before any interrupt or status the
 * device gives after. The vCPU is kicked to come soon. */
typedef struct Pending {
    HypandaRrEvent e;  /* icount and site are given when it is logged */
    GByteArray *bytes; /* a DMA write's, a packet's (else NULL) */
} Pending;
static QemuMutex pending_lock;
static GArray *pending;
static bool anything_pending;

/* address_space_map() for a device writing RAM from another thread gets a
 * buffer of its own: the bytes reach RAM through the pending list at unmap
 * (in replay they never do). */
typedef struct DmaBounce {
    uint64_t addr;
    uint64_t len;
} DmaBounce;
static GHashTable *bounces; /* buffer -> DmaBounce, under pending_lock */
int hypanda_rr_bounces;     /* how many there are */

void hypanda_rr_devices_init(void)
{
    qemu_mutex_init(&pending_lock);
    pending = g_array_new(false, false, sizeof(Pending));
    bounces = g_hash_table_new(NULL, NULL);
}

static void log_event(uint64_t icount, uint32_t site, HypandaRrEvent *e, const GByteArray *bytes)
{
    e->icount = icount;
    e->site = site;
    if (bytes != NULL) {
        e->data = bytes->data;
        e->data_len = bytes->len;
    }
    hypanda_rr_recorder_event(hypanda_rr.recorder, e);
}

void hypanda_rr_write_pending(uint64_t icount, uint32_t site)
{
    if (!qatomic_read(&anything_pending)) {
        return;
    }
    qemu_mutex_lock(&pending_lock);
    for (guint i = 0; i < pending->len; i++) {
        Pending *p = &g_array_index(pending, Pending, i);
        if (p->e.kind == HYPANDA_RR_DMA_WRITE) {
            hypanda_rr_applying_log = true;
            cpu_physical_memory_write(p->e.addr, p->bytes->data, p->bytes->len);
            hypanda_rr_applying_log = false;
        }
        log_event(icount, site, &p->e, p->bytes);
        if (p->bytes != NULL) {
            g_byte_array_free(p->bytes, true);
        }
    }
    g_array_set_size(pending, 0);
    qatomic_set(&anything_pending, false);
    qemu_mutex_unlock(&pending_lock);
}

/* Whose is a device's action now: false when it is not to be recorded (the
 * CPU's own access, Hypanda writing the log's bytes, nothing recorded).
 * Else on the vCPU thread in a device access it is logged at once,
 * elsewhere it waits (*deferred). */
static bool devices_doing(bool *deferred)
{
    const bool vcpu = current_cpu != NULL;
    if (hypanda_rr_mode != HYPANDA_RR_RECORDING || hypanda_rr_applying_log ||
        (vcpu && !hypanda_rr_in_device_access)) {
        return false;
    }
    *deferred = !vcpu;
    return true;
}

/* Logs `e` (with `bytes`, which it takes) now or later, as devices_doing
 * said. */
static void record_device_event(bool deferred, HypandaRrEvent e, GByteArray *bytes)
{
    if (!deferred) {
        log_event(hypanda_rr_device_access_count, HYPANDA_RR_SITE_DMA, &e, bytes);
        if (bytes != NULL) {
            g_byte_array_free(bytes, true);
        }
        return;
    }
    Pending p = {.e = e, .bytes = bytes};
    qemu_mutex_lock(&pending_lock);
    g_array_append_val(pending, p);
    qatomic_set(&anything_pending, true);
    qemu_mutex_unlock(&pending_lock);
    qemu_cpu_kick(first_cpu);
}

static void defer_dma(uint64_t addr, const void *buf, uint64_t len)
{
    GByteArray *bytes = g_byte_array_sized_new(len);
    g_byte_array_append(bytes, buf, len);
    record_device_event(true, (HypandaRrEvent){.addr = addr, .kind = HYPANDA_RR_DMA_WRITE}, bytes);
}

bool hypanda_rr_device_ram_write_slow(uint64_t addr, const void *buf, uint64_t len)
{
    const bool vcpu = current_cpu != NULL;
    if (hypanda_rr_applying_log || (vcpu && !hypanda_rr_in_device_access)) {
        return false; /* the CPU's own, or the log's */
    }
    if (hypanda_rr_mode == HYPANDA_RR_REPLAYING) {
        return true;
    }
    if (vcpu) {
        HypandaRrEvent e = {.addr = addr, .data = buf, .data_len = len, .kind = HYPANDA_RR_DMA_WRITE};
        log_event(hypanda_rr_device_access_count, HYPANDA_RR_SITE_DMA, &e, NULL);
        return false;
    }
    defer_dma(addr, buf, len);
    return true;
}

/* The guest-physical address of a cache's byte `addr`: the cache starts at
 * its section's address plus how far into the section it begins. */
bool hypanda_rr_cached_write_slow(MemoryRegionCache *cache, hwaddr addr, const void *buf, hwaddr len)
{
    const uint64_t gpa = cache->mrs.offset_within_address_space +
                         (cache->xlat - cache->mrs.offset_within_region) + addr;
    return hypanda_rr_device_ram_write_slow(gpa, buf, len);
}

bool hypanda_rr_plugin_access_begin(void)
{
    const bool device_access = hypanda_rr_in_device_access;
    hypanda_rr_in_device_access = false;
    return device_access;
}

void hypanda_rr_plugin_access_end(bool device_access)
{
    hypanda_rr_in_device_access = device_access;
}

void hypanda_rr_device_ram_read_slow(uint64_t addr, uint64_t len)
{
    bool deferred;
    if (devices_doing(&deferred)) {
        record_device_event(deferred, (HypandaRrEvent){.addr = addr, .length = len, .kind = HYPANDA_RR_DMA_READ},
                            NULL);
    }
}

void *hypanda_rr_dma_map_slow(uint64_t addr, uint64_t len, bool is_write)
{
    if (!is_write) {
        hypanda_rr_device_ram_read_slow(addr, len);
        return NULL;
    }
    DmaBounce *b = g_new(DmaBounce, 1);
    b->addr = addr;
    b->len = len;
    void *buffer = g_malloc0(len);
    qemu_mutex_lock(&pending_lock);
    g_hash_table_insert(bounces, buffer, b);
    qatomic_inc(&hypanda_rr_bounces);
    qemu_mutex_unlock(&pending_lock);
    return buffer;
}

bool hypanda_rr_dma_unmap_slow(void *buffer, uint64_t access_len)
{
    qemu_mutex_lock(&pending_lock);
    DmaBounce *b = g_hash_table_lookup(bounces, buffer);
    if (b != NULL) {
        g_hash_table_remove(bounces, buffer);
        qatomic_dec(&hypanda_rr_bounces);
    }
    qemu_mutex_unlock(&pending_lock);
    if (b == NULL) {
        return false;
    }
    const uint64_t len = MIN(access_len, b->len);
    if (len == 0 || hypanda_rr_mode == HYPANDA_RR_REPLAYING) {
        /* nothing written, or replay: the log has it */
    } else if (hypanda_rr_mode == HYPANDA_RR_RECORDING && current_cpu == NULL) {
        defer_dma(b->addr, buffer, len);
    } else {
        /* the vCPU's thread (a device access: logged as such), or the
         * recording has ended meanwhile */
        hypanda_rr_applying_log = hypanda_rr_mode == HYPANDA_RR_RECORDING && !hypanda_rr_in_device_access;
        cpu_physical_memory_write(b->addr, buffer, len);
        hypanda_rr_applying_log = false;
    }
    g_free(b);
    g_free(buffer);
    return true;
}

/* ---- Where a device's buffer is in guest memory ---- */

typedef struct FindRange {
    const MemoryRegion *mr;
    uint64_t offset;
    uint64_t gpa;
    bool found;
} FindRange;

static bool find_range(Int128 start, Int128 len, const MemoryRegion *mr, hwaddr offset_in_region, void *opaque)
{
    FindRange *f = opaque;
    if (mr == f->mr && f->offset >= offset_in_region && f->offset - offset_in_region < int128_get64(len)) {
        f->gpa = int128_get64(start) + (f->offset - offset_in_region);
        f->found = true;
        return true;
    }
    return false;
}

/* The guest-physical address of a host pointer into guest RAM or into one
 * of the bounce buffers that stand for it; false for anything else. */
static bool guest_address(const void *ptr, uint64_t *gpa)
{
    bool found = false;
    qemu_mutex_lock(&pending_lock);
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, bounces);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const DmaBounce *b = value;
        const uint8_t *start = key;
        if ((const uint8_t *)ptr >= start && (const uint8_t *)ptr < start + b->len) {
            *gpa = b->addr + ((const uint8_t *)ptr - start);
            found = true;
            break;
        }
    }
    qemu_mutex_unlock(&pending_lock);
    if (found) {
        return true;
    }
    ram_addr_t offset;
    MemoryRegion *mr = memory_region_from_host((void *)ptr, &offset);
    if (mr == NULL) {
        return false;
    }
    FindRange f = {.mr = mr, .offset = offset};
    RCU_READ_LOCK_GUARD();
    flatview_for_each_range(address_space_to_flatview(&address_space_memory), find_range, &f);
    *gpa = f.gpa;
    return f.found;
}

void hypanda_rr_disk_transfer_slow(bool to_ram, uint64_t offset, const struct iovec *iov, int n)
{
    bool deferred;
    if (!devices_doing(&deferred)) {
        return;
    }
    for (int i = 0; i < n; i++) {
        uint64_t gpa = 0;
        if (!guest_address(iov[i].iov_base, &gpa)) {
            gpa = 0; /* not guest RAM: the entry says so with address 0 */
        }
        HypandaRrEvent e = {.addr = gpa, .value = offset, .length = iov[i].iov_len, .kind = HYPANDA_RR_DISK,
                            .size = to_ram ? HYPANDA_RR_HD_TO_RAM : HYPANDA_RR_RAM_TO_HD};
        record_device_event(deferred, e, NULL);
        offset += iov[i].iov_len;
    }
}

/* A frame's guest address: for one received, where the NIC wrote its first
 * bytes (the DMA writes waiting to be logged, newest first); for one sent,
 * where the NIC read it from (the reads waiting, whose RAM still holds it).
 * 0 when neither shows it. */
static uint64_t frame_address(const GByteArray *frame, bool received)
{
    const size_t probe = MIN(frame->len, 64);
    uint64_t gpa = 0;
    if (probe == 0) {
        return 0;
    }
    GArray *reads = g_array_new(false, false, sizeof(HypandaRrEvent));
    qemu_mutex_lock(&pending_lock);
    for (guint i = pending->len; i-- > 0 && gpa == 0;) {
        const Pending *p = &g_array_index(pending, Pending, i);
        if (received && p->e.kind == HYPANDA_RR_DMA_WRITE && p->bytes->len >= probe) {
            const uint8_t *hit = memmem(p->bytes->data, p->bytes->len, frame->data, probe);
            if (hit != NULL) {
                gpa = p->e.addr + (hit - p->bytes->data);
            }
        } else if (!received && p->e.kind == HYPANDA_RR_DMA_READ && p->e.length >= probe &&
                   p->e.length <= 65536) {
            g_array_append_val(reads, p->e);
        }
    }
    qemu_mutex_unlock(&pending_lock);
    /* RAM is read without the lock, as Hypanda's own read (not logged). */
    hypanda_rr_applying_log = true;
    for (guint i = 0; i < reads->len && gpa == 0; i++) {
        const HypandaRrEvent *e = &g_array_index(reads, HypandaRrEvent, i);
        g_autofree uint8_t *ram = g_malloc(e->length);
        cpu_physical_memory_read(e->addr, ram, e->length);
        const uint8_t *hit = memmem(ram, e->length, frame->data, probe);
        if (hit != NULL) {
            gpa = e->addr + (hit - ram);
        }
    }
    hypanda_rr_applying_log = false;
    g_array_free(reads, true);
    return gpa;
}

void hypanda_rr_packet_slow(NetClientState *sender, NetClientState *receiver, const struct iovec *iov, int n)
{
    bool deferred;
    if (!devices_doing(&deferred)) {
        return;
    }
    const bool received = receiver->info->type == NET_CLIENT_DRIVER_NIC;
    if (!received && (sender == NULL || sender->info->type != NET_CLIENT_DRIVER_NIC)) {
        return; /* between two back-ends (a hub): not the guest's */
    }
    GByteArray *frame = g_byte_array_new();
    for (int i = 0; i < n; i++) {
        g_byte_array_append(frame, iov[i].iov_base, iov[i].iov_len);
    }
    if (frame->len > HYPANDA_RR_MAX_PACKET) {
        g_byte_array_set_size(frame, HYPANDA_RR_MAX_PACKET);
    }
    HypandaRrEvent e = {.addr = frame_address(frame, received), .kind = HYPANDA_RR_PACKET,
                        .size = received ? HYPANDA_RR_PACKET_RECEIVED : HYPANDA_RR_PACKET_SENT};
    record_device_event(deferred, e, frame);
}
