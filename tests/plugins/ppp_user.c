/*
 * A PPP user for the plugin-to-plugin tests. Its `mode` argument picks
 * what init_plugin does:
 *   use (default)   require ppp_provider, register at on_tick with and
 *                   without context, import provider_tick and call it,
 *                   remove the plain callback, call it again;
 *   keep            require, register both, and leave them registered;
 *   no_symbol       require, then import a function the provider lacks;
 *   no_point        require, then register at a point the provider lacks;
 *   no_provider     import from a plugin that is not loaded (no require);
 *   missing         require a plugin that does not exist.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <string.h>

#include "ppp_provider.h"

static int ticks_seen;

static void on_tick_plain(int n)
{
    printf("user: tick %d\n", n);
}

static void on_tick_context(void *context, int n)
{
    int *seen = context;
    *seen += n;
    printf("user: tick %d with context, total %d\n", n, *seen);
}

bool init_plugin(void *self)
{
    (void)self;
    panda_arg_list *args = panda_get_args("ppp_user");
    const char *mode = panda_parse_string_opt(args, "mode", "use", "what to do at init");
    bool ok = true;
    if (strcmp(mode, "no_provider") == 0) {
        ok = panda_import("ppp_provider", "provider_tick") != NULL;
    } else if (strcmp(mode, "missing") == 0) {
        ok = panda_require("no_such_plugin") != NULL;
    } else if (panda_require("ppp_provider") == NULL) {
        ok = false;
    } else if (strcmp(mode, "no_symbol") == 0) {
        ok = panda_import("ppp_provider", "provider_untick") != NULL;
    } else if (strcmp(mode, "no_point") == 0) {
        ok = panda_ppp_register("ppp_provider", "on_tock", (void (*)(void))on_tick_plain, NULL,
                                false);
    } else {
        PPP_REG_CB("ppp_provider", on_tick, on_tick_plain);
        PPP_REG_CB_WITH_CONTEXT("ppp_provider", on_tick, on_tick_context, &ticks_seen);
        int (*tick)(int) = PANDA_IMPORT("ppp_provider", provider_tick);
        if (tick == NULL) {
            ok = false;
        } else if (strcmp(mode, "use") == 0) {
            printf("user: %d registered\n", tick(5));
            PPP_REMOVE_CB("ppp_provider", on_tick, on_tick_plain);
            printf("user: %d registered\n", tick(6));
            PPP_REMOVE_CB_WITH_CONTEXT("ppp_provider", on_tick, on_tick_context, &ticks_seen);
            printf("user: %d registered\n", tick(7));
        }
    }
    fflush(stdout);
    panda_free_args(args);
    return ok;
}

void uninit_plugin(void *self)
{
    (void)self;
    printf("user: uninit\n");
    fflush(stdout);
}
