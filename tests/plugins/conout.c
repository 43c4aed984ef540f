/*
 * conout: what the guest writes to a serial port, seen from the CPU side:
 * every executed `out dx, al` (0xEE) to the port's data register while the
 * line control register's divisor-latch bit (port + 3, bit 7) is clear.
 * Replay does not run the devices' output, so this is how the
 * record/replay tests compare what the guest printed in both (its RESULT
 * lines included).
 *
 * Arguments: port=N (default 0x3f8, COM1), output=FILE: the bytes, as
 * written.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <panda/plugin.h>

#include "output.h"

static uint64_t port = 0x3f8;
static char output[4096];
static bool divisor_latch;
static char *text;
static size_t len, cap;

static bool is_out_dx_al(CPUState *cpu, target_ulong pc)
{
    uint8_t op = 0;
    return panda_virtual_memory_rw(cpu, pc, &op, 1, 0) == 0 && op == 0xee;
}

static int on_out(CPUState *cpu, target_ulong pc)
{
    (void)pc;
    uint64_t dx = 0, ax = 0;
    if (panda_reg_read(cpu, PANDA_REG_X86_RDX, &dx) != 0 ||
        panda_reg_read(cpu, PANDA_REG_X86_RAX, &ax) != 0) {
        return 0;
    }
    if ((dx & 0xffff) == port + 3) {
        divisor_latch = (ax & 0x80) != 0;
        return 0;
    }
    if ((dx & 0xffff) != port || divisor_latch) {
        return 0;
    }
    if (len == cap) {
        cap = cap ? cap * 2 : 4096;
        text = realloc(text, cap);
        if (text == NULL) {
            abort();
        }
    }
    text[len++] = (char)ax;
    return 0;
}

bool init_plugin(void *self)
{
    panda_arg_list *args = panda_get_args("conout");
    port = panda_parse_uint64_opt(args, "port", 0x3f8, "the serial port's I/O address");
    snprintf(output, sizeof output, "%s", panda_parse_string_opt(args, "output", "", "where the bytes go"));
    panda_free_args(args);
    panda_cb cb;
    cb.insn_translate = is_out_dx_al;
    panda_register_callback(self, PANDA_CB_INSN_TRANSLATE, cb);
    cb.insn_exec = on_out;
    panda_register_callback(self, PANDA_CB_INSN_EXEC, cb);
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    FILE *out = test_output_open(output);
    if (out == NULL) {
        return;
    }
    fwrite(text, 1, len, out);
    test_output_close(out);
}
