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
 *   hpana osi         prints what /proc says: "HPANA proc PID PPID COMM"
 *                     for every process (from /proc/PID/stat), then
 *                     "HPANA maps" and its own /proc/self/maps, each line
 *                     as "HPANA map <line>", then calls hpana_osi_marker()
 *                     (hooked by the tests), changing nothing in between
 *
 * Built with `cc -static -O0 -g -fno-inline` so every call in the source is
 * a call in the binary and every line has its code.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

    int fd = open("/proc/self/maps", O_RDONLY);
    size_t len = 0;
    ssize_t n;
    while (fd >= 0 && len < sizeof maps - 1 && (n = read(fd, maps + len, sizeof maps - 1 - len)) > 0) {
        len += (size_t)n;
    }
    if (fd < 0) {
        perror("hpana: /proc/self/maps");
        return 1;
    }
    close(fd);
    maps[len] = '\0';
    printf("HPANA maps\n");
    for (char *line = strtok(maps, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        printf("HPANA map %s\n", line);
    }
    hpana_osi_marker();
    return failed;
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
    fprintf(stderr, "usage: hpana recurse N | hpana osi\n");
    return 2;
}
