/*
 * The stringsearch plugin's API (PANDA's name): other plugins hear of every
 * match as it happens.
 *
 *     #include "stringsearch/stringsearch.h"
 *     panda_require("stringsearch");
 *     PPP_REG_CB("stringsearch", on_ssm, my_on_ssm);
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_PLUGIN_STRINGSEARCH_H
#define HYPANDA_PLUGIN_STRINGSEARCH_H

#include <panda/plugin_plugin.h>

/* The bytes of one search string have just been read (is_write false) or
 * written (is_write true), in order, by the instruction at `pc`, which
 * accessed `addr` when the last byte completed the match. `in_memory` is
 * always true here (the bytes came through memory accesses). */
PPP_CB_TYPEDEF(void, on_ssm, CPUState *env, target_ulong pc, target_ulong addr, uint8_t *matched_string,
               uint32_t matched_string_length, bool is_write, bool in_memory);

PPP_PROT_REG_CB(on_ssm);

#endif
