/* A plugin whose init_plugin refuses to run. */
#include <stdio.h>

#include <panda/plugin.h>

bool init_plugin(void *self)
{
    (void)self;
    printf("failinit: refusing\n");
    fflush(stdout);
    return false;
}

void uninit_plugin(void *self)
{
    (void)self;
    printf("failinit: uninit must not run\n");
}
