/*
 * switch N (model.h): state checks around N engine-switch hypercalls. Run
 * without hybrid mode (or without the hypercall device) the switches do
 * not happen and the value is the same. The line
 *   SWITCHES <done> unavailable <u> forbidden <f> no-device <d>
 * counts the answers: switched, no hybrid mode, refused by the host's
 * policy, no device on the port. switchgpr N is the same without the XMM
 * and x87 checks, for this machine's KVM (switch.S).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "arch.h"
#include "console.h"
#include "model.h"
#include "workloads.h"

uint32_t hp_switch_call(uint32_t command, uint64_t pattern, uint64_t *changed,
                        uint64_t with_fpu); /* switch.S */

static uint64_t buffer[HP_SWITCH_BUFFER / 8];

uint64_t workload_switch(uint64_t n, bool with_fpu)
{
    uint64_t h = HP_FNV_OFFSET, x = HP_SWITCH_SEED;
    struct hp_switch_answers answers = {0, 0, 0, 0};
    if (with_fpu) {
        enable_sse();
    }
    uint64_t last_tsc = rdtsc();
    for (uint64_t i = 0; i < n; i++) {
        for (int j = 0; j < HP_SWITCH_BUFFER / 8; j++) {
            x = hp_lcg_next(x);
            buffer[j] = x;
        }
        uint64_t changed = 0;
        uint32_t result = hp_switch_call(hp_switch_command(i), x, &changed, with_fpu);
        if (changed != 0) {
            hp_error_begin();
            con_puts("switch: registers changed across hypercall ");
            con_put_dec(i);
            con_puts(", mask ");
            con_put_hex(changed);
            hp_error_end(HP_EXIT_WORKLOAD_FAILED);
        }
        hp_switch_answers_add(&answers, result);
        uint64_t tsc = rdtsc();
        if (tsc < last_tsc) {
            hp_error_begin();
            con_puts("switch: TSC went back across hypercall ");
            con_put_dec(i);
            hp_error_end(HP_EXIT_WORKLOAD_FAILED);
        }
        last_tsc = tsc;
        for (int j = 0; j < HP_SWITCH_BUFFER / 8; j++) {
            h = hp_fnv_u64(h, buffer[j]);
        }
    }
    hp_switch_answers_print(&answers);
    return h;
}
