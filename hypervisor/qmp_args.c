/*
 * Argument checking for Hypanda's hand-registered QMP commands (see
 * qmp_args.h). Here, at the bottom of Hypanda's QEMU code, because the
 * hybrid accelerator's commands use it as well as those of the layers
 * above it (plugins, record/replay).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qmp/qdict.h"
#include "hypanda/hypervisor/qmp_args.h"

bool hypanda_qmp_check_args(const char *command, QDict *args, const char *const *spec, Error **errp)
{
    for (const QDictEntry *e = qdict_first(args); e != NULL; e = qdict_next(args, e)) {
        bool known = false;
        for (const char *const *s = spec; *s != NULL; s++) {
            size_t n = strcspn(*s, ":");
            if (strlen(e->key) == n && strncmp(e->key, *s, n) == 0) {
                known = true;
                QType want = (*s)[n + 1] == 's' ? QTYPE_QSTRING : QTYPE_QNUM;
                if (qobject_type(e->value) != want) {
                    error_setg(errp, "%s: '%s' must be %s", command, e->key,
                               want == QTYPE_QSTRING ? "a string" : "an integer");
                    return false;
                }
            }
        }
        if (!known) {
            error_setg(errp, "%s: unknown argument '%s'", command, e->key);
            return false;
        }
    }
    for (const char *const *s = spec; *s != NULL; s++) {
        size_t n = strcspn(*s, ":");
        g_autofree char *key = g_strndup(*s, n);
        if ((*s)[n + 2] != '?' && !qdict_haskey(args, key)) {
            error_setg(errp, "%s: missing argument '%s'", command, key);
            return false;
        }
    }
    return true;
}
