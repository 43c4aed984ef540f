/*
 * The PANDA monitor commands, for people (HMP: load_plugin, unload_plugin,
 * enable_plugin, disable_plugin, list_plugins, plugin_cmd) and for tools and
 * libvirt (QMP: panda-load-plugin, panda-unload-plugin, panda-enable-plugin,
 * panda-disable-plugin, panda-list-plugins, panda-plugin-cmd). Both sets
 * call the same runtime operations; the registry changes with the vCPUs
 * paused. The QMP commands are registered at start-up, so they appear in
 * query-commands like QEMU's own.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "monitor/monitor.h"
#include "monitor/monitor-internal.h"
#include "qapi/error.h"
#include "qapi/qmp/dispatch.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qlist.h"
#include "qapi/qmp/qnum.h"
#include "qapi/qmp/qstring.h"

#include "hypanda/hypervisor/qmp_args.h"
#include "hypanda/llvm/engine.h"
#include "hypanda/tcg-instrument/qemu_hooks.h"
#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

/* Where panda_monitor_printf writes during a plugin_cmd: the HMP monitor
 * that sent it, or the reply text of a QMP panda-plugin-cmd. */
static __thread Monitor *command_monitor;
static __thread GString *command_capture;
static __thread bool in_monitor_command;

void panda_monitor_printf(Monitor *mon, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (in_monitor_command && command_capture != NULL) {
        g_string_append_vprintf(command_capture, fmt, ap);
    } else if (in_monitor_command && command_monitor != NULL) {
        monitor_vprintf(command_monitor, fmt, ap);
    } else {
        vprintf(fmt, ap); /* outside a monitor command: the emulator's stdout */
    }
    va_end(ap);
}

/* Plugins may load, unload or disable plugins from their monitor callback:
 * the vCPUs are paused meanwhile, as for the other commands. */
static void run_plugin_cmd(Monitor *mon, GString *capture, const char *cmd)
{
    bool running = hypanda_pause_vcpus();
    command_monitor = mon;
    command_capture = capture;
    in_monitor_command = true;
    hypanda_run_monitor(mon, cmd);
    in_monitor_command = false;
    command_capture = NULL;
    command_monitor = NULL;
    hypanda_resume_vcpus(running);
}

/* ---- Operations shared by HMP and QMP; NULL or an error message ---- */

static char *do_load(const char *path, const char *args, int *index, char **name)
{
    bool running = hypanda_pause_vcpus();
    char *err = hypanda_monitor_load(path, args, index, name);
    hypanda_resume_vcpus(running);
    return err;
}

static char *do_unload(int64_t index)
{
    bool running = hypanda_pause_vcpus();
    char *err = hypanda_monitor_unload(index);
    hypanda_resume_vcpus(running);
    return err;
}

static char *do_set_enabled(int64_t index, bool enabled)
{
    bool running = hypanda_pause_vcpus();
    char *err = hypanda_monitor_set_enabled(index, enabled);
    hypanda_resume_vcpus(running);
    return err;
}

/* ---- HMP ---- */

static void hmp_report(Monitor *mon, char *err)
{
    if (err != NULL) {
        monitor_printf(mon, "error: %s\n", err);
        free(err);
    }
}

void hmp_panda_load_plugin(Monitor *mon, const QDict *qdict)
{
    int index = -1;
    char *name = NULL;
    char *err = do_load(qdict_get_str(qdict, "path"), qdict_get_try_str(qdict, "args"), &index,
                        &name);
    if (err == NULL) {
        monitor_printf(mon, "loaded %s as plugin %d\n", name, index);
        free(name);
    }
    hmp_report(mon, err);
}

void hmp_panda_unload_plugin(Monitor *mon, const QDict *qdict)
{
    hmp_report(mon, do_unload(qdict_get_int(qdict, "idx")));
}

void hmp_panda_enable_plugin(Monitor *mon, const QDict *qdict)
{
    hmp_report(mon, do_set_enabled(qdict_get_int(qdict, "idx"), true));
}

void hmp_panda_disable_plugin(Monitor *mon, const QDict *qdict)
{
    hmp_report(mon, do_set_enabled(qdict_get_int(qdict, "idx"), false));
}

static void print_plugin_row(void *opaque, int index, const char *name, const char *path,
                             uint64_t address, bool enabled)
{
    Monitor *mon = opaque;
    monitor_printf(mon, "%-8d%-24s0x%" PRIx64 "%s\n", index, name, address,
                   enabled ? "" : "  (disabled)");
}

void hmp_panda_list_plugins(Monitor *mon, const QDict *qdict)
{
    monitor_printf(mon, "%-8s%-24s%s\n", "idx", "name", "addr");
    hypanda_for_each_plugin(print_plugin_row, mon);
}

void hmp_panda_plugin_cmd(Monitor *mon, const QDict *qdict)
{
    if (!hypanda_wants(PANDA_CB_MONITOR)) {
        monitor_printf(mon, "error: no loaded plugin takes monitor commands\n");
        return;
    }
    run_plugin_cmd(mon, NULL, qdict_get_str(qdict, "cmd"));
}

/* llvm [on|off]: the switch happens at the vCPU's next safe point, so the
 * reply says what was asked; without an argument, the mode and counts. */
void hmp_panda_llvm(Monitor *mon, const QDict *qdict)
{
    const char *mode = qdict_get_try_str(qdict, "mode");
    if (mode == NULL) {
        HypandaLlvmStats st;
        hypanda_llvm_stats(&st);
        monitor_printf(mon, "LLVM mode %s; %" PRIu64 " blocks compiled in %.3f s (%.1f us per block), "
                       "%" PRIu64 " not liftable, %" PRIu64 " flushes\n",
                       hypanda_llvm_enabled() ? "on" : "off", st.blocks, st.translate_ns / 1e9,
                       st.blocks ? st.translate_ns / 1e3 / st.blocks : 0.0, st.failures, st.flushes);
    } else if (strcmp(mode, "on") == 0 || strcmp(mode, "off") == 0) {
        hypanda_llvm_request_async(strcmp(mode, "on") == 0);
        monitor_printf(mon, "LLVM mode %s from the next block\n", mode);
    } else {
        monitor_printf(mon, "error: llvm takes on or off, not '%s'\n", mode);
    }
}

/* ---- QMP ---- */

static void qmp_set_error(Error **errp, char *err)
{
    error_setg(errp, "%s", err);
    free(err);
}

static void qmp_load(QDict *args, QObject **ret, Error **errp)
{
    static const char *const spec[] = {"path:s", "args:s?", NULL};
    if (!hypanda_qmp_check_args("panda-load-plugin", args, spec, errp)) {
        return;
    }
    int index = -1;
    char *name = NULL;
    char *err = do_load(qdict_get_str(args, "path"), qdict_get_try_str(args, "args"), &index, &name);
    if (err != NULL) {
        qmp_set_error(errp, err);
        return;
    }
    QDict *reply = qdict_new();
    qdict_put_int(reply, "index", index);
    qdict_put_str(reply, "name", name);
    free(name);
    *ret = QOBJECT(reply);
}

static bool index_arg(const char *command, QDict *args, int64_t *index, Error **errp)
{
    static const char *const spec[] = {"index:i", NULL};
    if (!hypanda_qmp_check_args(command, args, spec, errp)) {
        return false;
    }
    if (!qnum_get_try_int(qobject_to(QNum, qdict_get(args, "index")), index)) {
        error_setg(errp, "%s: 'index' is out of range", command);
        return false;
    }
    return true;
}

static void qmp_index_command(const char *command, char *(*op)(int64_t), QDict *args,
                              QObject **ret, Error **errp)
{
    int64_t index;
    if (!index_arg(command, args, &index, errp)) {
        return;
    }
    char *err = op(index);
    if (err != NULL) {
        qmp_set_error(errp, err);
        return;
    }
    *ret = QOBJECT(qdict_new());
}

static char *op_enable(int64_t index) { return do_set_enabled(index, true); }
static char *op_disable(int64_t index) { return do_set_enabled(index, false); }

static void qmp_unload(QDict *args, QObject **ret, Error **errp)
{
    qmp_index_command("panda-unload-plugin", do_unload, args, ret, errp);
}

static void qmp_enable(QDict *args, QObject **ret, Error **errp)
{
    qmp_index_command("panda-enable-plugin", op_enable, args, ret, errp);
}

static void qmp_disable(QDict *args, QObject **ret, Error **errp)
{
    qmp_index_command("panda-disable-plugin", op_disable, args, ret, errp);
}

static void add_plugin_dict(void *opaque, int index, const char *name, const char *path,
                            uint64_t address, bool enabled)
{
    QDict *d = qdict_new();
    qdict_put_int(d, "index", index);
    qdict_put_str(d, "name", name);
    qdict_put_str(d, "path", path);
    qdict_put(d, "address", qnum_from_uint(address));
    qdict_put_bool(d, "enabled", enabled);
    qlist_append(opaque, d);
}

static void qmp_list(QDict *args, QObject **ret, Error **errp)
{
    static const char *const spec[] = {NULL};
    if (!hypanda_qmp_check_args("panda-list-plugins", args, spec, errp)) {
        return;
    }
    QList *list = qlist_new();
    hypanda_for_each_plugin(add_plugin_dict, list);
    *ret = QOBJECT(list);
}

static void qmp_plugin_cmd(QDict *args, QObject **ret, Error **errp)
{
    static const char *const spec[] = {"cmd:s", NULL};
    if (!hypanda_qmp_check_args("panda-plugin-cmd", args, spec, errp)) {
        return;
    }
    if (!hypanda_wants(PANDA_CB_MONITOR)) {
        error_setg(errp, "panda-plugin-cmd: no loaded plugin takes monitor commands");
        return;
    }
    GString *out = g_string_new("");
    run_plugin_cmd(monitor_cur(), out, qdict_get_str(args, "cmd"));
    QDict *reply = qdict_new();
    qdict_put_str(reply, "output", out->str);
    g_string_free(out, true);
    *ret = QOBJECT(reply);
}

void hypanda_register_qmp_commands(void)
{
    static const struct {
        const char *name;
        QmpCommandFunc *fn;
    } commands[] = {
        {"panda-load-plugin", qmp_load},     {"panda-unload-plugin", qmp_unload},
        {"panda-enable-plugin", qmp_enable}, {"panda-disable-plugin", qmp_disable},
        {"panda-list-plugins", qmp_list},    {"panda-plugin-cmd", qmp_plugin_cmd},
    };
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (qmp_find_command(&qmp_commands, commands[i].name) == NULL) {
            qmp_register_command(&qmp_commands, commands[i].name, commands[i].fn, 0, 0);
        }
    }
}
