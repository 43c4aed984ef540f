/*
 * The API of the test plugin ppp_provider (ppp_provider.c): one PPP
 * callback point and two exported functions, as a real provider's header.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_TEST_PPP_PROVIDER_H
#define HYPANDA_TEST_PPP_PROVIDER_H

#include <panda/plugin_plugin.h>

/* Run by provider_tick(n) for every registered callback. */
PPP_CB_TYPEDEF(void, on_tick, int n);
PPP_PROT_REG_CB(on_tick);

/* Runs on_tick(n); returns how many callbacks are registered there. */
int provider_tick(int n);

/* How many callbacks are registered at on_tick (with and without context). */
int provider_registered(void);

#endif
