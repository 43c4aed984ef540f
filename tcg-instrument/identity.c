/*
 * Who the emulator says it is. QEMU's "QEMU emulator version" line is kept
 * as the first line of --version; this adds Hypanda's own line below it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>

#include "qemu_hooks.h"

#ifndef HYPANDA_VERSION
#error "HYPANDA_VERSION must be defined by the build (from the VERSION file)"
#endif

void hypanda_print_version(void)
{
    printf("Hypanda %s: hybrid KVM/TCG dynamic analysis with PANDA plugins\n",
           HYPANDA_VERSION);
}
