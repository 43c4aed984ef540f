/*
 * syscalls: the PANDA manual's sample plugin, a low-overhead x86 system-call
 * monitor, on the Hypanda SDK. insn_translate marks the system-call
 * instructions (SYSENTER 0F 34, and beyond the manual's sample SYSCALL 0F 05
 * and INT 0x80 CD 80) and insn_exec, which then runs only for those, logs
 * the PC and RAX (the system-call number on Linux and Windows):
 *
 *     PC=0000000077bd70b2, SYSCALL=0000000000000153
 *
 * Argument: file=PATH, the log (default syscalls.txt, as in the manual).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stdio.h>

#include <panda/plugin.h>

static FILE *plugin_log;

static bool translate_callback(CPUState *cpu, target_ulong pc)
{
    uint8_t buf[2];
    if (panda_virtual_memory_rw(cpu, pc, buf, 2, 0) != 0) {
        return false;
    }
    return (buf[0] == 0x0f && (buf[1] == 0x34 || buf[1] == 0x05)) ||
           (buf[0] == 0xcd && buf[1] == 0x80);
}

static int exec_callback(CPUState *cpu, target_ulong pc)
{
    uint64_t rax = 0;
    panda_reg_read(cpu, PANDA_REG_X86_RAX, &rax);
    fprintf(plugin_log, "PC=%016" PRIx64 ", SYSCALL=%016" PRIx64 "\n", pc, rax);
    return 0;
}

bool init_plugin(void *self)
{
    panda_arg_list *args = panda_get_args("syscalls");
    const char *file = panda_parse_string_opt(args, "file", "syscalls.txt", "the log's path");
    plugin_log = fopen(file, "w");
    if (plugin_log == NULL) {
        fprintf(stderr, "syscalls: cannot open %s for writing\n", file);
    }
    panda_free_args(args);
    if (plugin_log == NULL) {
        return false;
    }

    panda_cb pcb;
    pcb.insn_translate = translate_callback;
    panda_register_callback(self, PANDA_CB_INSN_TRANSLATE, pcb);
    pcb.insn_exec = exec_callback;
    panda_register_callback(self, PANDA_CB_INSN_EXEC, pcb);
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    fclose(plugin_log);
}
