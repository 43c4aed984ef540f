/*
 * Test plugin for linux-user mode: logs every system call it is told about,
 * one line before and one after, with the arguments, the return value and
 * what the guest's memory holds where the arguments point:
 *
 *   before 1 1 <addr> 13 str="hypanda user\n"
 *   after 1 ret=13
 *
 * For write (1) and openat (257) the string argument is read with
 * panda_virtual_memory_rw before the call; after uname (63) the first bytes
 * of the buffer it filled. Also notes whether panda_virt_to_phys refused
 * (linux-user has no physical addresses) and ends with "uninit".
 *
 * Argument: file=PATH (required).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <panda/plugin.h>

static FILE *out;

/* Writes `len` guest bytes at `addr` as an escaped string, or "unreadable". */
static void put_guest_string(CPUState *cpu, target_ulong addr, int len)
{
    char buf[64];
    if (len < 0 || len > (int)sizeof buf) {
        len = sizeof buf;
    }
    if (panda_virtual_memory_rw(cpu, addr, (uint8_t *)buf, len, 0) != 0) {
        fputs(" unreadable", out);
        return;
    }
    fputs(" str=\"", out);
    for (int i = 0; i < len && buf[i] != '\0'; i++) {
        if (buf[i] == '\n') {
            fputs("\\n", out);
        } else {
            fputc(buf[i], out);
        }
    }
    fputc('"', out);
}

static int before(void *cpu_env, bitmask_transtbl *table, int num, abi_long a1, abi_long a2,
                  abi_long a3, abi_long a4, abi_long a5, abi_long a6, abi_long a7, abi_long a8)
{
    (void)a5;
    (void)a6;
    (void)a7;
    (void)a8;
    CPUState *cpu = cpu_env;
    fprintf(out, "before %d %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 "%s", num, a1, a2, a3,
            a4, table != NULL ? "" : " notable");
    if (num == 1) {
        put_guest_string(cpu, a2, (int)a3);
    } else if (num == 257) {
        put_guest_string(cpu, a2, 63);
    }
    fputc('\n', out);
    return 0;
}

static int after(void *cpu_env, bitmask_transtbl *table, int num, abi_long a1, abi_long a2,
                 abi_long a3, abi_long a4, abi_long a5, abi_long a6, abi_long a7, abi_long a8,
                 void *p, abi_long ret)
{
    (void)table;
    (void)a2;
    (void)a3;
    (void)a4;
    (void)a5;
    (void)a6;
    (void)a7;
    (void)a8;
    (void)p;
    CPUState *cpu = cpu_env;
    fprintf(out, "after %d ret=%" PRId64, num, ret);
    if (num == 63) {
        put_guest_string(cpu, a1, 5);
        fprintf(out, " phys=%s", panda_virt_to_phys(cpu, a1) == (target_ulong)-1 ? "none" : "some");
    }
    fputc('\n', out);
    return 0;
}

bool init_plugin(void *self)
{
    panda_arg_list *args = panda_get_args("usersys");
    const char *file = panda_parse_string_req(args, "file", "the log's path");
    out = file != NULL ? fopen(file, "w") : NULL;
    panda_free_args(args);
    if (out == NULL) {
        return false;
    }
    panda_cb pcb;
    pcb.user_before_syscall = before;
    panda_register_callback(self, PANDA_CB_USER_BEFORE_SYSCALL, pcb);
    pcb.user_after_syscall = after;
    panda_register_callback(self, PANDA_CB_USER_AFTER_SYSCALL, pcb);
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    fputs("uninit\n", out);
    fclose(out);
}
