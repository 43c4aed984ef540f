/*
 * sample: the smallest useful PANDA plugin. Counts executed basic blocks
 * (before_block_exec) and answers `plugin_cmd sample_stats`.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <string.h>

#include <panda/plugin.h>

static uint64_t blocks;

static int count_block(CPUState *cpu, TranslationBlock *tb)
{
    (void)cpu;
    (void)tb;
    blocks++;
    return 0;
}

static int monitor(Monitor *mon, const char *cmd)
{
    if (strcmp(cmd, "sample_stats") == 0) {
        panda_monitor_printf(mon, "sample: %" PRIu64 " blocks executed\n", blocks);
    } else if (strcmp(cmd, "help") == 0) {
        panda_monitor_printf(mon, "sample_stats: blocks executed so far\n");
    }
    return 0;
}

bool init_plugin(void *self)
{
    panda_cb cb;
    cb.before_block_exec = count_block;
    panda_register_callback(self, PANDA_CB_BEFORE_BLOCK_EXEC, cb);
    cb.monitor = monitor;
    panda_register_callback(self, PANDA_CB_MONITOR, cb);
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    printf("sample: unloaded after %" PRIu64 " blocks\n", blocks);
    fflush(stdout);
}
