/*
 * Argument checking for Hypanda's hand-registered QMP commands (they are
 * not in QEMU's QAPI schema, so QMP passes their arguments unchecked).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_HYPERVISOR_QMP_ARGS_H
#define HYPANDA_HYPERVISOR_QMP_ARGS_H

#include <stdbool.h>

typedef struct QDict QDict;
typedef struct Error Error;

/* Checks that a QMP command's `args` hold only the keys `spec` names
 * ("name:s" / "name:i", '?' after the type when optional; the list ends
 * with NULL), with the right types, and every key that is not optional;
 * sets errp ("COMMAND: unknown argument 'x'", "COMMAND: missing argument
 * 'x'", "COMMAND: 'x' must be a string") and returns false otherwise. */
bool hypanda_qmp_check_args(const char *command, QDict *args, const char *const *spec,
                            Error **errp);

#endif
