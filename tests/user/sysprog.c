/*
 * The linux-user test program: a static x86-64 executable without libc,
 * so that its system calls are exactly the ones below, in this order, with
 * known arguments and results. tests/integration/user_test.cc runs it
 * under hypanda-x86_64 and checks what the plugins saw against this list.
 *
 *   write(1, "hypanda user\n", 13)                       = 13
 *   openat(AT_FDCWD, "/nonexistent/hypanda", O_RDONLY, 0) = -ENOENT (-2)
 *   close(1000)                                          = -EBADF (-9)
 *   syscall 1000 (no such call)                          = -ENOSYS (-38)
 *   uname(&buf)                                          = 0, buf.sysname "Linux"
 *   (then 65 byte loads and stores copying buf.sysname, no system call)
 *   write(1, "done\n", 5)                                = 5
 *   exit_group(7)                                        (does not return)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>

static long sys(long num, long a1, long a2, long a3, long a4)
{
    long ret;
    register long r10 __asm__("r10") = a4;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(num), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

/* File-scope, so the test finds each by its symbol. */
static const char hello[] = "hypanda user\n";
static const char path[] = "/nonexistent/hypanda";
static const char done[] = "done\n";
/* struct utsname: six fields of 65 bytes. */
static char uname_buf[6 * 65];
/* Where the program copies the system name: loads and stores for the
 * memory callbacks to see. */
static volatile char sysname_copy[65];

void _start(void)
{
    long status = 7;

    if (sys(1, 1, (long)hello, sizeof hello - 1, 0) != 13) {
        status = 11;
    }
    if (sys(257, -100, (long)path, 0, 0) != -2) {
        status = 12;
    }
    if (sys(3, 1000, 0, 0, 0) != -9) {
        status = 13;
    }
    if (sys(1000, 1, 2, 3, 4) != -38) {
        status = 14;
    }
    if (sys(63, (long)uname_buf, 0, 0, 0) != 0) {
        status = 15;
    }
    for (int i = 0; i < 65; i++) {
        sysname_copy[i] = ((volatile char *)uname_buf)[i];
    }
    if (sysname_copy[0] != 'L') {
        status = 16;
    }
    sys(1, 1, (long)done, sizeof done - 1, 0);
    sys(231, status, 0, 0, 0);
    for (;;) {
    }
}
