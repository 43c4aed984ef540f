/*
 * A plugin that reads one argument of each type, required and optional, and
 * prints what it got: the typed-argument helpers' test subject.
 */
#include <inttypes.h>
#include <stdio.h>

#include <panda/plugin.h>

bool init_plugin(void *self)
{
    (void)self;
    panda_arg_list *args = panda_get_args("typed");
    bool flag = panda_parse_bool_opt(args, "flag", "a boolean");
    uint64_t n = panda_parse_uint64_req(args, "n", "a required count");
    double ratio = panda_parse_double_opt(args, "ratio", 0.5, "a ratio");
    const char *name = panda_parse_string_opt(args, "name", "none", "a name");
    printf("typed: flag=%d n=%" PRIu64 " ratio=%g name=%s\n", flag, n, ratio, name);
    fflush(stdout);
    panda_free_args(args);
    return true;
}

void uninit_plugin(void *self) { (void)self; }
