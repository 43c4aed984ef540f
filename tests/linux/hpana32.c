/*
 * hpana32: a 32-bit x86 program that makes its system calls with INT 0x80,
 * the i386 ABI (numbers from the kernel's syscall_32.tbl: open 5, write 4,
 * close 6, read 3, getpid 20, exit_group 252). It runs as /bin/hpana32 in
 * the Linux guest under strace (hplinux=analysis), and syscalls2 must
 * name and decode each call as strace does. Freestanding (no C library:
 * Debian's i386 libc is not needed), static, 32-bit.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

static long call3(long number, long a, long b, long c)
{
    long result;
    __asm__ volatile("int $0x80" : "=a"(result) : "a"(number), "b"(a), "c"(b), "d"(c) : "memory");
    return result;
}

void _start(void)
{
    static const char path[] = "/tmp/hpana32.txt";
    static const char message[] = "HPANA32 int80\n";
    char buf[32];
    long fd = call3(5, (long)path, 01101 /* O_WRONLY | O_CREAT | O_TRUNC */, 0644);
    call3(4, fd, (long)message, sizeof message - 1);
    call3(6, fd, 0, 0);
    fd = call3(5, (long)path, 0, 0);
    long n = call3(3, fd, (long)buf, sizeof buf);
    call3(6, fd, 0, 0);
    call3(4, 1, (long)buf, n); /* prints the line back on standard output */
    call3(20, 0, 0, 0);
    call3(5, (long)"/nonexistent/hpana32", 0, 0); /* fails: ENOENT */
    call3(252, 0, 0, 0);
    for (;;) {
    }
}
