/*
 * The test plugins' `output=FILE` argument: where their results go at
 * uninit (standard output when it is empty).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_TEST_PLUGIN_OUTPUT_H
#define HYPANDA_TEST_PLUGIN_OUTPUT_H

#include <stdio.h>

static inline FILE *test_output_open(const char *path)
{
    return path[0] ? fopen(path, "w") : stdout;
}

static inline void test_output_close(FILE *out)
{
    if (out != stdout) {
        fclose(out);
    }
}

#endif
