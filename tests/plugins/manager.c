/*
 * A plugin that manages another through the SDK, driven by monitor
 * commands: `manager load PATH`, `manager disable NAME`, `manager enable
 * NAME`, `manager unload NAME`. Each prints what it did.
 */
#include <stdio.h>
#include <string.h>

#include <panda/plugin.h>

static int monitor(Monitor *mon, const char *cmd)
{
    char verb[16], arg[4096];
    if (sscanf(cmd, "manager %15s %4095s", verb, arg) != 2) {
        return 0;
    }
    if (strcmp(verb, "load") == 0) {
        panda_monitor_printf(mon, "manager: load %s: %s\n", arg, panda_load_plugin(arg) ? "ok" : "failed");
        return 0;
    }
    void *other = panda_get_plugin_by_name(arg);
    if (other == NULL) {
        panda_monitor_printf(mon, "manager: no plugin %s\n", arg);
    } else if (strcmp(verb, "disable") == 0) {
        panda_disable_plugin(other);
        panda_monitor_printf(mon, "manager: disabled %s\n", arg);
    } else if (strcmp(verb, "enable") == 0) {
        panda_enable_plugin(other);
        panda_monitor_printf(mon, "manager: enabled %s\n", arg);
    } else if (strcmp(verb, "unload") == 0) {
        panda_unload_plugin(other);
        panda_monitor_printf(mon, "manager: unloaded %s\n", arg);
    }
    return 0;
}

bool init_plugin(void *self)
{
    panda_cb cb;
    cb.monitor = monitor;
    panda_register_callback(self, PANDA_CB_MONITOR, cb);
    return true;
}

void uninit_plugin(void *self) { (void)self; }
