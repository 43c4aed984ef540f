/*
 * A PPP provider for the plugin-to-plugin tests: prints its `greeting`
 * argument at init, and serves ppp_provider.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>

#include "ppp_provider.h"

PPP_CB_BOILERPLATE(on_tick)

int provider_registered(void)
{
    return ppp_on_tick_cbs.count + ppp_on_tick_cbs_with_context.count;
}

int provider_tick(int n)
{
    PPP_RUN_CB(on_tick, n);
    return provider_registered();
}

bool init_plugin(void *self)
{
    (void)self;
    panda_arg_list *args = panda_get_args("ppp_provider");
    printf("provider: init greeting=%s\n",
           panda_parse_string_opt(args, "greeting", "none", "printed at init"));
    fflush(stdout);
    panda_free_args(args);
    return true;
}

void uninit_plugin(void *self)
{
    (void)self;
    printf("provider: uninit\n");
    fflush(stdout);
}
