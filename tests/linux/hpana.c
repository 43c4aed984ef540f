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
 *
 * Built with `cc -static -O0 -g -fno-inline` so every call in the source is
 * a call in the binary and every line has its code.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "recurse") == 0) {
        return cmd_recurse(argv[2]);
    }
    fprintf(stderr, "usage: hpana recurse N\n");
    return 2;
}
