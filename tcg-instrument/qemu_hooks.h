/*
 * The functions QEMU's patched sources call into Hypanda. Every call site
 * the patch series adds to QEMU goes through a declaration in this file, so
 * the patches stay call sites and the logic stays in the Hypanda tree.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_TCG_INSTRUMENT_QEMU_HOOKS_H
#define HYPANDA_TCG_INSTRUMENT_QEMU_HOOKS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Prints the Hypanda identity line after QEMU's own version lines, which stay
 * untouched because libvirt and other tools parse them. */
void hypanda_print_version(void);

#ifdef __cplusplus
}
#endif

#endif
