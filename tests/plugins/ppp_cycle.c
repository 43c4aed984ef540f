/*
 * Built twice for the plugin-to-plugin tests, as ppp_cycle_a and
 * ppp_cycle_b: each requires the other (CYCLE_OTHER), a dependency cycle
 * the loader must refuse.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <panda/plugin.h>

bool init_plugin(void *self)
{
    (void)self;
    return panda_require(CYCLE_OTHER) != NULL;
}

void uninit_plugin(void *self)
{
    (void)self;
}
