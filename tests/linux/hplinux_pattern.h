/*
 * The deterministic data the Linux guest test moves around, shared by the
 * guest program (hplinux.c) and the host-side GoogleTest
 * (linux_boot_test.cc) so both sides compute the same checksums.
 * Plain C, usable from C++.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HPLINUX_PATTERN_H
#define HPLINUX_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* What `hplinux check` writes to /tmp/hp.dat and reads back. */
#define HPLINUX_FILE_BYTES 65536u
#define HPLINUX_FILE_SEED 0x48504c696e757831ull /* "HPLinux1" */

/* What `hplinux check` sends through a child and back over two pipes.
 * Deliberately not a multiple of the page size, and below the default pipe
 * capacity (64 KiB) so the round trip can never deadlock. */
#define HPLINUX_PIPE_BYTES 30011u
#define HPLINUX_PIPE_SEED 0x48504c696e757832ull /* "HPLinux2" */

/* What `hplinux checksum` hashes again and again while the host switches
 * engines under it (linux_hybrid_test.cc). */
#define HPLINUX_CHECKSUM_BYTES (1u << 20)
#define HPLINUX_CHECKSUM_SEED 0x48504c696e757833ull /* "HPLinux3" */

/* The system calls `hplinux window` makes in its TCG window, in order:
 * getpid, getppid, getuid, getgid, uname, write. */
#define HPLINUX_WINDOW_CALLS {39, 110, 102, 104, 63, 1}
#define HPLINUX_WINDOW_LINE "HPLINUX in the window\n"

/* The status the forked child exits with. */
#define HPLINUX_CHILD_STATUS 42

/* FNV-1a, 64-bit variant: offset basis and prime. */
#define HPLINUX_FNV64_INIT 0xcbf29ce484222325ull
#define HPLINUX_FNV64_PRIME 0x00000100000001b3ull

/* Fills buf with len pseudo-random bytes: a 64-bit linear congruential
 * generator (Knuth's MMIX multiplier and increment) started at seed; each
 * byte is the top eight bits of the next state. */
static inline void hplinux_fill(unsigned char *buf, size_t len, uint64_t seed)
{
    uint64_t state = seed;
    size_t i;

    for (i = 0; i < len; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (unsigned char)(state >> 56);
    }
}

/* Continues an FNV-1a-64 hash `h` over len more bytes. Start with
 * HPLINUX_FNV64_INIT; hashing in pieces gives the same result as at once. */
static inline uint64_t hplinux_fnv1a64(uint64_t h, const unsigned char *data, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= data[i];
        h *= HPLINUX_FNV64_PRIME;
    }
    return h;
}

#endif /* HPLINUX_PATTERN_H */
