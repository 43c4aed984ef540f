/*
 * hpana: the program the analysis plugins are tested on (tests/linux,
 * linux_analysis_test.cc). It runs as /bin/hpana in the busybox Linux
 * guest when the kernel's command line says hplinux=analysis. Each
 * command does something whose analysis has a right answer the host test
 * works out from this source and from the binary's symbols (`nm`):
 *
 *   hpana recurse N   main -> cmd_recurse -> hpana_recurse(N) -> ...
 *                     -> hpana_recurse(0) -> hpana_bottom(): N + 1 frames
 *                     of hpana_recurse under hpana_bottom; prints
 *                     "HPANA recurse N <N + 1>"
 *   hpana syscalls    a known sequence of system calls (see cmd_syscalls),
 *                     which the test traces with strace -f and syscalls2
 *   hpana loop N      N rounds of getppid, open, write and close of
 *                     /dev/null: the system-call-heavy load of bench/analyses
 *   hpana strings N   N rounds of hpana_put copying HPANA_NEEDLE byte by
 *                     byte into a buffer and hpana_sum reading it back: the
 *                     needle passes through exactly three instructions of
 *                     hpana's own, N times each; prints "HPANA strings N S"
 *   hpana branches N  hpana_branches(N): the lines marked "cov: ran" run,
 *                     those marked "cov: never" do not, for any N from 2
 *                     to 100 (the coverage test); prints "HPANA branches N V"
 *   hpana filesum F   reads file F (up to 4096 bytes) with one read() into
 *                     a buffer, then hpana_filesum runs a rolling checksum
 *                     over it with one branch on the running sum per byte
 *                     (under file_taint: byte k's branch carries the labels
 *                     {0..k}); prints "HPANA filesum N", N the bytes read —
 *                     nothing computed from the bytes is printed or
 *                     branched on elsewhere
 *   hpana netsum F    reads file F (up to 64 KiB), asks taint2 what its
 *                     bytes carry (the query hypercall), computes their
 *                     SHA-256 (hpana_sha256, FIPS 180-4, no branch on the
 *                     data), asks the same of the digest, and writes
 *                     "HPANA netsum N <hex digest>" with hpana_hex, which
 *                     branches once per hex digit on its value
 *   hpana osi         prints what /proc says: "HPANA proc PID PPID COMM"
 *                     for every process (from /proc/PID/stat), then
 *                     "HPANA maps" and its own /proc/self/maps, each line
 *                     as "HPANA map <line>", and /proc/modules as
 *                     "HPANA module <line>", then calls hpana_osi_marker()
 *                     (hooked by the tests), changing nothing in between
 *
 * Built with `cc -static -O0 -g -fno-inline` so every call in the source is
 * a call in the binary and every line has its code.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The innermost frame of `recurse`; the tests hook its first instruction. */
__attribute__((noinline)) int hpana_bottom(int depth)
{
    return depth;
}

__attribute__((noinline)) int hpana_recurse(int n)
{
    if (n == 0) {
        return hpana_bottom(0) + 1;
    }
    int below = hpana_recurse(n - 1);
    return below + 1;
}

static int cmd_recurse(const char *arg)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || n < 0 || n > 1000) {
        fprintf(stderr, "hpana: recurse: '%s' is not a depth from 0 to 1000\n", arg);
        return 2;
    }
    printf("HPANA recurse %ld %d\n", n, hpana_recurse((int)n));
    return 0;
}

/* The moment the osi test compares the plugins' view with /proc's. */
__attribute__((noinline)) void hpana_osi_marker(void)
{
    __asm__ volatile("" ::: "memory");
}

/* Prints "HPANA proc PID PPID COMM" from /proc/PID/stat ("pid (comm) state
 * ppid ..."; comm may hold spaces and parentheses: it ends at the last ')'). */
static int print_process(const char *pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return 0; /* gone meanwhile */
    }
    ssize_t n = read(fd, stat, sizeof stat - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    stat[n] = '\0';
    char *open_paren = strchr(stat, '(');
    char *close_paren = strrchr(stat, ')');
    if (open_paren == NULL || close_paren == NULL || close_paren < open_paren) {
        printf("HPANA error %s: unexpected format\n", path);
        return -1;
    }
    *close_paren = '\0';
    char state;
    long ppid;
    if (sscanf(close_paren + 1, " %c %ld", &state, &ppid) != 2) {
        printf("HPANA error %s: no ppid\n", path);
        return -1;
    }
    printf("HPANA proc %s %ld %s\n", pid, ppid, open_paren + 1);
    return 0;
}

static char maps[64 * 1024]; /* static: reading the maps must not change them */
static char modules[16 * 1024];

/* Reads a whole (small) file into buf, NUL-terminated; -1 after a message. */
static int read_whole(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    size_t len = 0;
    ssize_t n;
    if (fd < 0) {
        perror(path);
        return -1;
    }
    while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0) {
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return 0;
}

static int cmd_osi(void)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL) {
        perror("hpana: /proc");
        return 1;
    }
    int failed = 0;
    struct dirent *e;
    while ((e = readdir(proc)) != NULL) {
        if (isdigit((unsigned char)e->d_name[0])) {
            failed |= print_process(e->d_name) != 0;
        }
    }
    closedir(proc);

    /* The kernel's modules ("name size refs deps state address"), read
     * before the maps and without stdio, so nothing is allocated after. */
    if (read_whole("/proc/modules", modules, sizeof modules) < 0) {
        return 1;
    }
    if (read_whole("/proc/self/maps", maps, sizeof maps) < 0) {
        return 1;
    }
    printf("HPANA maps\n");
    for (char *line = strtok(maps, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        printf("HPANA map %s\n", line);
    }
    for (char *line = strtok(modules, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        printf("HPANA module %s\n", line);
    }
    hpana_osi_marker();
    return failed;
}

#define SYSCALLS_FILE "/tmp/hpana.txt"
static const char message[] = "hypanda syscalls2\n";

/* After the C library's own start-up calls: openat, write, close, openat,
 * read, close of SYSCALLS_FILE; an anonymous mmap and its munmap; a fork
 * (glibc: clone) whose child runs getpid and then execve of busybox's
 * `true` applet, waited for with wait4; an openat that fails with ENOENT;
 * exit_group(0). */
static int cmd_syscalls(void)
{
    char buf[64];
    int fd = open(SYSCALLS_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, message, sizeof message - 1) != (ssize_t)(sizeof message - 1) || close(fd) != 0) {
        return 1;
    }
    fd = open(SYSCALLS_FILE, O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf) != (ssize_t)(sizeof message - 1) || close(fd) != 0) {
        return 1;
    }
    void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || munmap(p, 8192) != 0) {
        return 1;
    }
    pid_t child = fork();
    if (child == 0) {
        (void)getpid();
        char *argv[] = {"true", NULL};
        char *envp[] = {"HPANA=1", NULL};
        execve("/bin/busybox", argv, envp);
        _exit(127);
    }
    int status;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return 1;
    }
    if (open("/nonexistent/hpana", O_RDONLY) != -1 || errno != ENOENT) {
        return 1;
    }
    return 0;
}

static int cmd_loop(const char *arg)
{
    long n = strtol(arg, NULL, 10);
    for (long i = 0; i < n; i++) {
        (void)getppid();
        int fd = open("/dev/null", O_WRONLY);
        if (fd < 0 || write(fd, message, sizeof message - 1) < 0 || close(fd) != 0) {
            return 1;
        }
    }
    printf("HPANA loop %ld\n", n);
    return 0;
}

/* ---- stringsearch: the needle the test searches for ---- */
static const char hpana_needle[] = "hpana-needle:7f3a9c";

__attribute__((noinline)) void hpana_put(char *dst, const char *src, int n)
{
    for (int i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}

__attribute__((noinline)) int hpana_sum(const char *buf, int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++) {
        sum += buf[i];
    }
    return sum;
}

static long count_arg(const char *command, const char *arg, long low, long high)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || n < low || n > high) {
        fprintf(stderr, "hpana: %s: '%s' is not a count from %ld to %ld\n", command, arg, low, high);
        return -1;
    }
    return n;
}

static int cmd_strings(const char *arg)
{
    long rounds = count_arg("strings", arg, 1, 100);
    if (rounds < 0) {
        return 2;
    }
    char buf[64];
    int n = (int)strlen(hpana_needle);
    int total = 0;
    for (long r = 0; r < rounds; r++) {
        hpana_put(buf, hpana_needle, n);
        total += hpana_sum(buf, n);
    }
    printf("HPANA strings %ld %d\n", rounds, total);
    return 0;
}

/* ---- coverage: every line of hpana_branches says whether it runs ---- */
__attribute__((noinline)) int hpana_branches(int n)
{                                     /* cov: ran */
    int odd = 0, big = 0;             /* cov: ran */
    for (int i = 0; i < n; i++) {     /* cov: ran */
        if (i % 2 == 1) {             /* cov: ran */
            odd++;                    /* cov: ran */
        }
        if (i > 100) {                /* cov: ran */
            big++;                    /* cov: never */
        }
    }
    if (n < 0) {                      /* cov: ran */
        return -1;                    /* cov: never */
    }
    return odd * 1000 + big;          /* cov: ran */
}                                     /* cov: ran */

static int cmd_branches(const char *arg)
{
    long n = count_arg("branches", arg, 2, 100);
    if (n < 0) {
        return 2;
    }
    printf("HPANA branches %ld %d\n", n, hpana_branches((int)n));
    return 0;
}

/* The checksum of `filesum`: byte k's branch tests the sum of bytes 0..k. */
__attribute__((noinline)) unsigned hpana_filesum(const unsigned char *bytes, long n)
{
    unsigned sum = 0, odd = 0;
    for (long k = 0; k < n; k++) {
        sum = sum * 31 + bytes[k];
        if (sum & 1) {
            odd++;
        }
    }
    return sum + odd;
}

static unsigned char file_bytes[4096];

static int cmd_filesum(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("HPANA error open %s: %s\n", path, strerror(errno));
        return 1;
    }
    long n = read(fd, file_bytes, sizeof file_bytes);
    close(fd);
    if (n <= 0) {
        printf("HPANA error read %s\n", path);
        return 1;
    }
    volatile unsigned sink = hpana_filesum(file_bytes, n); /* kept, never looked at */
    (void)sink;
    printf("HPANA filesum %ld\n", n);
    return 0;
}

/* taint2's query hypercall (docs/taint.md): CPUID with EAX "2tnt", EBX 2,
 * RCX the buffer, RDX its length; a plain CPUID without the plugin. */
static void taint2_query(const void *buffer, unsigned long n)
{
    unsigned long a = 0x746e7432, b = 2, c = (unsigned long)buffer, d = n;
    __asm__ volatile("cpuid" : "+a"(a), "+b"(b), "+c"(c), "+d"(d) : "S"(0UL) : "memory");
}

/* SHA-256 as FIPS 180-4 gives it: no branch depends on the data. */
static const unsigned hpana_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static unsigned rotr(unsigned x, int n)
{
    return (x >> n) | (x << (32 - n));
}

/* One 64-byte block into the state h. */
static void hpana_sha256_block(unsigned h[8], const unsigned char *block)
{
    unsigned w[64];
    for (int t = 0; t < 16; t++) {
        w[t] = (unsigned)block[4 * t] << 24 | (unsigned)block[4 * t + 1] << 16 | (unsigned)block[4 * t + 2] << 8 |
               block[4 * t + 3];
    }
    for (int t = 16; t < 64; t++) {
        unsigned s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        unsigned s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    unsigned v[8];
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
    }
    for (int t = 0; t < 64; t++) {
        unsigned e = v[4], a = v[0];
        unsigned t1 = v[7] + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & v[5]) ^ (~e & v[6])) +
                      hpana_sha256_k[t] + w[t];
        unsigned t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & v[1]) ^ (a & v[2]) ^ (v[1] & v[2]));
        for (int i = 7; i > 0; i--) {
            v[i] = v[i - 1];
        }
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) {
        h[i] += v[i];
    }
}

__attribute__((noinline)) void hpana_sha256(const unsigned char *m, unsigned long n, unsigned char digest[32])
{
    unsigned h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    unsigned long done = 0;
    for (; n - done >= 64; done += 64) {
        hpana_sha256_block(h, m + done);
    }
    /* The rest, 0x80, zeros, and the length in bits (big-endian) end the
     * last one or two blocks. */
    unsigned char tail[128] = {0};
    unsigned long rest = n - done;
    memcpy(tail, m + done, rest);
    tail[rest] = 0x80;
    unsigned long end = rest + 9 <= 64 ? 64 : 128;
    for (int i = 0; i < 8; i++) {
        tail[end - 1 - i] = (unsigned char)((unsigned long long)n * 8 >> (8 * i));
    }
    hpana_sha256_block(h, tail);
    if (end == 128) {
        hpana_sha256_block(h, tail + 64);
    }
    for (int i = 0; i < 32; i++) {
        digest[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
    }
}

/* Hex digits of n bytes: one branch per digit on its value (digit or
 * letter) — the netsum test's tainted branches. */
__attribute__((noinline)) void hpana_hex(const unsigned char *bytes, int n, char *out)
{
    for (int k = 0; k < 2 * n; k++) {
        unsigned v = (bytes[k / 2] >> (k % 2 ? 0 : 4)) & 15;
        if (v < 10) {
            out[k] = (char)('0' + v);
        } else {
            out[k] = (char)('a' + v - 10);
        }
    }
}

static unsigned char net_bytes[65536];

/* netsum F: F's bytes (up to 64 KiB) and their SHA-256, each asked of
 * taint2; the digest printed in hex with write(). */
static int cmd_netsum(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("HPANA error open %s: %s\n", path, strerror(errno));
        return 1;
    }
    long n = 0, got;
    while (n < (long)sizeof net_bytes && (got = read(fd, net_bytes + n, sizeof net_bytes - n)) > 0) {
        n += got;
    }
    close(fd);
    taint2_query(net_bytes, n);
    unsigned char digest[32];
    hpana_sha256(net_bytes, n, digest);
    taint2_query(digest, sizeof digest);
    char line[128];
    int len = snprintf(line, sizeof line, "HPANA netsum %ld ", n);
    hpana_hex(digest, sizeof digest, line + len);
    len += 64;
    line[len++] = '\n';
    return write(1, line, len) == len ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "recurse") == 0) {
        return cmd_recurse(argv[2]);
    }
    if (argc == 2 && strcmp(argv[1], "osi") == 0) {
        return cmd_osi();
    }
    if (argc == 2 && strcmp(argv[1], "syscalls") == 0) {
        return cmd_syscalls();
    }
    if (argc == 3 && strcmp(argv[1], "loop") == 0) {
        return cmd_loop(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "strings") == 0) {
        return cmd_strings(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "branches") == 0) {
        return cmd_branches(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "netsum") == 0) {
        return cmd_netsum(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "filesum") == 0) {
        return cmd_filesum(argv[2]);
    }
    fprintf(stderr, "usage: hpana recurse N | hpana osi | hpana syscalls | hpana loop N | hpana strings N | "
                    "hpana branches N | hpana filesum FILE\n");
    return 2;
}
