/*
 * A stand-in plugin for tests, built under several names (STANDIN_NAME):
 * on init it prints its name and every argument it was given, in order,
 * on one line; on uninit it says so. It answers `plugin_cmd STANDIN_NAME`.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <string.h>

#include <panda/plugin.h>

#ifndef STANDIN_NAME
#error "STANDIN_NAME must name the plugin"
#endif

static int monitor(Monitor *mon, const char *cmd)
{
    if (strcmp(cmd, STANDIN_NAME) == 0) {
        panda_monitor_printf(mon, "standin %s: here\n", STANDIN_NAME);
    }
    return 0;
}

bool init_plugin(void *self)
{
    panda_arg_list *args = panda_get_args(STANDIN_NAME);
    printf("standin %s: init", STANDIN_NAME);
    for (int i = 0; i < args->nargs; i++) {
        printf(" %s=%s", args->list[i].key, args->list[i].value);
    }
    printf("\n");
    fflush(stdout);
    panda_free_args(args);
    panda_cb cb;
    cb.monitor = monitor;
    panda_register_callback(self, PANDA_CB_MONITOR, cb);
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    printf("standin %s: uninit\n", STANDIN_NAME);
    fflush(stdout);
}
