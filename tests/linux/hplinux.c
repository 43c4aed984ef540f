/*
 * hplinux: the workload of the Linux guest test (tests/linux). It runs as
 * /bin/hplinux inside a Debian kernel + busybox initramfs booted under
 * hypanda-system-x86_64 (TCG), exercises real Linux system calls whose
 * results are deterministic, and prints one "HPLINUX ..." line per check so
 * the host-side test (linux_boot_test.cc) can compare exact values.
 *
 *   hplinux check       run the checks; non-zero status if any failed
 *   hplinux window      in hybrid mode: switch to TCG with the Hypanda
 *                       hypercall device, make the HPLINUX_WINDOW_CALLS
 *                       system calls there, switch back to KVM; prints
 *                       the engine before, in and after the window
 *   hplinux checksum    hash the HPLINUX_CHECKSUM pattern again and again
 *                       until a line arrives on standard input (the host
 *                       switches engines meanwhile); every round must give
 *                       the same value, which it prints with the rounds
 *   hplinux exit CODE   stop the machine through QEMU's isa-debug-exit
 *                       device at port 0xf4 (QEMU exits with 2*CODE+1)
 *
 * Built with `cc -static -O2` so it needs nothing from the guest.
 * Do not run `hplinux exit` on a real machine as root: it writes an I/O port.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hplinux_pattern.h"
#include "panda/hypercall.h"

#define DEBUG_EXIT_PORT 0xf4
#define DATA_PATH "/tmp/hp.dat"

/* Prints "HPLINUX error <what>: <errno text>" and returns -1. */
static int fail_errno(const char *what)
{
    printf("HPLINUX error %s: %s\n", what, strerror(errno));
    return -1;
}

static int fail(const char *what)
{
    printf("HPLINUX error %s\n", what);
    return -1;
}

/* write() all of buf, continuing after short writes. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads fd to end of file in odd-sized chunks, hashing what arrives.
 * Returns the byte count, or -1 on a read error. */
static ssize_t read_and_hash(int fd, uint64_t *hash)
{
    static const size_t chunk_sizes[] = {1, 3, 17, 251, 509, 1021, 4093, 7};
    unsigned char buf[4096 + 1024];
    size_t total = 0;
    size_t turn = 0;

    *hash = HPLINUX_FNV64_INIT;
    for (;;) {
        size_t want = chunk_sizes[turn++ % (sizeof chunk_sizes / sizeof chunk_sizes[0])];
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            return (ssize_t)total;
        }
        *hash = hplinux_fnv1a64(*hash, buf, (size_t)n);
        total += (size_t)n;
    }
}

/* Waits for pid; returns its exit status, or -1 if it did not exit normally. */
static int wait_exit_status(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return fail_errno("waitpid");
        }
    }
    if (!WIFEXITED(status)) {
        return fail("child did not exit normally");
    }
    return WEXITSTATUS(status);
}

/* (a) The running kernel's release string. */
static int check_kernel(void)
{
    struct utsname u;

    if (uname(&u) != 0) {
        return fail_errno("uname");
    }
    printf("HPLINUX kernel %s\n", u.release);
    return 0;
}

/* (b) Write the pattern to a tmpfs file, fsync, read it back. */
static int check_file(void)
{
    static unsigned char data[HPLINUX_FILE_BYTES];
    uint64_t hash;
    ssize_t got;
    int fd;

    hplinux_fill(data, sizeof data, HPLINUX_FILE_SEED);

    fd = open(DATA_PATH, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return fail_errno("open " DATA_PATH " for writing");
    }
    if (write_all(fd, data, sizeof data) != 0) {
        fail_errno("write " DATA_PATH);
        close(fd);
        return -1;
    }
    if (fsync(fd) != 0) {
        fail_errno("fsync " DATA_PATH);
        close(fd);
        return -1;
    }
    if (close(fd) != 0) {
        return fail_errno("close " DATA_PATH);
    }

    fd = open(DATA_PATH, O_RDONLY);
    if (fd < 0) {
        return fail_errno("open " DATA_PATH " for reading");
    }
    got = read_and_hash(fd, &hash);
    if (got < 0) {
        fail_errno("read " DATA_PATH);
        close(fd);
        return -1;
    }
    close(fd);
    printf("HPLINUX file %zd 0x%016" PRIx64 "\n", got, hash);
    return 0;
}

/* (c) A child that exits with a known status. */
static int check_fork_exit(void)
{
    int status;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        return fail_errno("fork");
    }
    if (pid == 0) {
        _exit(HPLINUX_CHILD_STATUS);
    }
    status = wait_exit_status(pid);
    if (status < 0) {
        return -1;
    }
    printf("HPLINUX fork-exit %d\n", status);
    return 0;
}

/* The child of the pipe check: copies `in` to `out` until end of file. */
static void echo_child(int in, int out)
{
    unsigned char buf[1000];

    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            _exit(1);
        }
        if (n == 0) {
            _exit(0);
        }
        if (write_all(out, buf, (size_t)n) != 0) {
            _exit(1);
        }
    }
}

/* (d) Send the pattern to a child over one pipe; it sends it back over
 * another. */
static int check_pipe(void)
{
    static unsigned char data[HPLINUX_PIPE_BYTES];
    int to_child[2], from_child[2];
    uint64_t hash;
    ssize_t got;
    int status;
    pid_t pid;

    hplinux_fill(data, sizeof data, HPLINUX_PIPE_SEED);
    if (pipe(to_child) != 0) {
        return fail_errno("pipe");
    }
    if (pipe(from_child) != 0) {
        fail_errno("pipe");
        close(to_child[0]);
        close(to_child[1]);
        return -1;
    }

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        fail_errno("fork for pipe");
        close(to_child[0]);
        close(to_child[1]);
        close(from_child[0]);
        close(from_child[1]);
        return -1;
    }
    if (pid == 0) {
        close(to_child[1]);
        close(from_child[0]);
        echo_child(to_child[0], from_child[1]);
    }
    close(to_child[0]);
    close(from_child[1]);

    if (write_all(to_child[1], data, sizeof data) != 0) {
        fail_errno("write to pipe");
    }
    close(to_child[1]); /* the child sees end of file */
    got = read_and_hash(from_child[0], &hash);
    if (got < 0) {
        fail_errno("read from pipe");
    }
    close(from_child[0]);

    status = wait_exit_status(pid);
    if (got < 0 || status < 0) {
        return -1;
    }
    if (status != 0) {
        return fail("pipe echo child failed");
    }
    printf("HPLINUX pipe %zd 0x%016" PRIx64 "\n", got, hash);
    return 0;
}

static int cmd_check(void)
{
    int failed = 0;

    /* Line-buffered even when stdout is not a terminal, so the lines come
     * out in order and none is lost if the machine stops afterwards. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    failed |= check_kernel() != 0;
    failed |= check_file() != 0;
    failed |= check_fork_exit() != 0;
    failed |= check_pipe() != 0;
    if (failed) {
        fflush(stdout);
        return 1;
    }
    printf("HPLINUX done\n");
    fflush(stdout);
    return 0;
}

static int cmd_exit(const char *arg)
{
    char *end;
    long code;

    errno = 0;
    code = strtol(arg, &end, 10);
    if (errno != 0 || *end != '\0' || end == arg || code < 0 || code > 127) {
        fprintf(stderr, "HPLINUX error exit code must be 0..127, got '%s'\n", arg);
        return 2;
    }
    fflush(stdout);
    if (ioperm(DEBUG_EXIT_PORT, 4, 1) != 0) {
        fprintf(stderr, "HPLINUX error ioperm(0x%x): %s\n", DEBUG_EXIT_PORT, strerror(errno));
        return 1;
    }
    outl((unsigned int)code, DEBUG_EXIT_PORT);
    /* Under QEMU with isa-debug-exit the machine is gone by now. */
    fprintf(stderr, "HPLINUX error still running after writing %ld to port 0x%x "
                    "(no isa-debug-exit device?)\n", code, DEBUG_EXIT_PORT);
    return 1;
}

/* One Hypanda hypercall (include/panda/hypercall.h); returns EAX. Not
 * inlined: under TCG a switch takes effect at the end of the translated
 * block holding the IN (docs/hybrid.md), and this function's RET ends that
 * block, so the caller's next instruction runs in the new engine. */
__attribute__((noinline)) static uint32_t hypercall(uint32_t command)
{
    uint32_t eax = HYPANDA_HC_MAGIC;
    __asm__ volatile("inl %%dx, %%eax"
                     : "+a"(eax)
                     : "b"(command), "c"(0), "d"(HYPANDA_HC_PORT)
                     : "memory");
    return eax;
}

/* A system call made by one known SYSCALL instruction, so the host can
 * name its address (the symbol hplinux_syscall_insn) and no libc wrapper
 * adds calls of its own. */
long hplinux_raw_syscall(long nr, long a1, long a2, long a3);
__asm__(".text\n"
        ".globl hplinux_raw_syscall\n"
        "hplinux_raw_syscall:\n"
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        "    mov %rdx, %rsi\n"
        "    mov %rcx, %rdx\n"
        ".globl hplinux_syscall_insn\n"
        ".type hplinux_syscall_insn, @function\n"
        "hplinux_syscall_insn:\n"
        "    syscall\n"
        "    ret\n");

static int cmd_window(void)
{
    static const long calls[] = HPLINUX_WINDOW_CALLS;
    static const char line[] = HPLINUX_WINDOW_LINE;
    struct utsname uts;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (ioperm(HYPANDA_HC_PORT, 4, 1) != 0) {
        return fail_errno("ioperm for the hypercall port");
    }
    uint32_t before = hypercall(HYPANDA_HC_QUERY_ENGINE);
    uint32_t to_tcg = hypercall(HYPANDA_HC_SWITCH_TO_TCG);
    uint32_t in = hypercall(HYPANDA_HC_QUERY_ENGINE);
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        switch (calls[i]) {
        case 63: hplinux_raw_syscall(calls[i], (long)&uts, 0, 0); break;
        case 1: hplinux_raw_syscall(calls[i], 1, (long)line, sizeof line - 1); break;
        default: hplinux_raw_syscall(calls[i], 0, 0, 0); break;
        }
    }
    uint32_t to_kvm = hypercall(HYPANDA_HC_SWITCH_TO_KVM);
    uint32_t after = hypercall(HYPANDA_HC_QUERY_ENGINE);
    printf("HPLINUX window engines %u %u %u answers 0x%x 0x%x\n", before, in, after, to_tcg, to_kvm);
    return 0;
}

static int cmd_checksum(void)
{
    static unsigned char data[HPLINUX_CHECKSUM_BYTES];
    uint64_t first = 0;
    unsigned long rounds = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("HPLINUX checksum running\n");
    for (;;) {
        hplinux_fill(data, sizeof data, HPLINUX_CHECKSUM_SEED);
        uint64_t hash = hplinux_fnv1a64(HPLINUX_FNV64_INIT, data, sizeof data);
        if (rounds == 0) {
            first = hash;
        } else if (hash != first) {
            printf("HPLINUX error checksum round %lu gave 0x%016" PRIx64 ", round 0 0x%016" PRIx64 "\n",
                   rounds, hash, first);
            return 1;
        }
        rounds++;
        struct pollfd p = {.fd = 0, .events = POLLIN};
        if (poll(&p, 1, 0) != 0) {
            break; /* the host's line, or standard input closed */
        }
    }
    printf("HPLINUX checksum 0x%016" PRIx64 " rounds %lu\n", first, rounds);
    return 0;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: hplinux check\n"
                "       hplinux window\n"
                "       hplinux checksum\n"
                "       hplinux exit CODE\n");
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "check") == 0) {
        return cmd_check();
    }
    if (argc == 2 && strcmp(argv[1], "window") == 0) {
        return cmd_window();
    }
    if (argc == 2 && strcmp(argv[1], "checksum") == 0) {
        return cmd_checksum();
    }
    if (argc == 3 && strcmp(argv[1], "exit") == 0) {
        return cmd_exit(argv[2]);
    }
    usage(stderr);
    return 2;
}
