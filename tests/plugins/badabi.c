/* A plugin that claims an SDK ABI this emulator does not serve. */
#define PANDA_SDK_INTERNAL
#include <panda/plugin.h>

__attribute__((visibility("default"))) const uint32_t panda_plugin_abi_version = 99;

bool init_plugin(void *self) { (void)self; return true; }
void uninit_plugin(void *self) { (void)self; }
