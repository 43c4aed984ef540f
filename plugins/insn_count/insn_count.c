/*
 * insn_count: counts the guest instructions completed, exactly: an insn_exec
 * callback on every instruction in the counted range, less the attempts
 * QEMU abandons and runs again (cpu_restore_state: a fault, a store into
 * the block being run). The count is the one recordings state
 * (docs/recording.md, "One instruction count").
 *
 * Arguments (all optional):
 *   start=ADDR, end=ADDR  count only instructions at start <= pc < end
 *   limit=N               stop counting after N instructions (0: no limit)
 *   output=FILE           where the count is written when counting stops,
 *                         on unload or at exit (default: standard output)
 * Monitor: `plugin_cmd insn_count` prints the count so far.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <string.h>

#include <panda/plugin.h>

static void *self_handle;
static uint64_t start_pc, end_pc, limit, count;
static const char *output_path;
static char output_copy[4096];
static bool reported;

static void report(void)
{
    if (reported) {
        return;
    }
    reported = true;
    FILE *out = stdout;
    if (output_path != NULL) {
        out = fopen(output_path, "w");
        if (out == NULL) {
            fprintf(stderr, "insn_count: cannot write %s\n", output_path);
            return;
        }
    }
    fprintf(out, "insn_count: %" PRIu64 " instructions\n", count);
    if (out != stdout) {
        fclose(out);
    } else {
        fflush(out);
    }
}

static bool in_range(CPUState *cpu, target_ulong pc)
{
    (void)cpu;
    return pc >= start_pc && pc < end_pc;
}

static int count_insn(CPUState *cpu, target_ulong pc)
{
    (void)cpu;
    (void)pc;
    count++;
    if (limit != 0 && count == limit) {
        report();
        panda_disable_plugin(self_handle);
    }
    return 0;
}

/* The instruction at the restored pc did not complete: it runs again (or
 * the exception handler does), and is counted when it completes. */
static int not_completed(CPUState *cpu, TranslationBlock *tb)
{
    (void)tb;
    const target_ulong pc = panda_current_pc(cpu);
    if (pc >= start_pc && pc < end_pc && count > 0 && !reported) {
        count--;
    }
    return 0;
}

static int monitor(Monitor *mon, const char *cmd)
{
    if (strcmp(cmd, "insn_count") == 0) {
        panda_monitor_printf(mon, "insn_count: %" PRIu64 " instructions\n", count);
    } else if (strcmp(cmd, "help") == 0) {
        panda_monitor_printf(mon, "insn_count: instructions counted so far\n");
    }
    return 0;
}

bool init_plugin(void *self)
{
    self_handle = self;
    panda_arg_list *args = panda_get_args("insn_count");
    start_pc = panda_parse_uint64_opt(args, "start", 0, "first address counted");
    end_pc = panda_parse_uint64_opt(args, "end", UINT64_MAX, "address after the last one counted");
    limit = panda_parse_uint64_opt(args, "limit", 0, "stop after this many instructions, 0 for none");
    const char *output = panda_parse_string_opt(args, "output", NULL, "file for the count");
    if (output != NULL) {
        snprintf(output_copy, sizeof output_copy, "%s", output);
        output_path = output_copy;
    }
    panda_free_args(args);

    panda_cb cb;
    cb.insn_translate = in_range;
    panda_register_callback(self, PANDA_CB_INSN_TRANSLATE, cb);
    cb.insn_exec = count_insn;
    panda_register_callback(self, PANDA_CB_INSN_EXEC, cb);
    cb.cb_cpu_restore_state = not_completed;
    panda_register_callback(self, PANDA_CB_CPU_RESTORE_STATE, cb);
    cb.monitor = monitor;
    panda_register_callback(self, PANDA_CB_MONITOR, cb);
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    report();
}
