/* A plugin that forgot init_plugin. */
#include <panda/plugin.h>

void uninit_plugin(void *self) { (void)self; }
