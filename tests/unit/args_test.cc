// The PANDA command-line grammar (tcg-instrument/runtime/args.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "args.h"

#include <gtest/gtest.h>

namespace hypanda {
namespace {

TEST(PandaOption, ParsesTheManualsExample) {
    auto p = parse_panda_option("stringsearch;callstack_instr;keyfind:base=dir,foo=bar");
    ASSERT_TRUE(p) << p.error;
    ASSERT_EQ(p.value->size(), 3u);
    EXPECT_EQ((*p.value)[0].name, "stringsearch");
    EXPECT_TRUE((*p.value)[0].args.empty());
    EXPECT_EQ((*p.value)[1].name, "callstack_instr");
    EXPECT_TRUE((*p.value)[1].args.empty());
    EXPECT_EQ((*p.value)[2].name, "keyfind");
    EXPECT_EQ((*p.value)[2].args, (KeyValues{{"base", "dir"}, {"foo", "bar"}}));
}

TEST(PandaOption, BackslashMakesSeparatorsLiteral) {
    auto p = parse_panda_option("a:path=x\\;y\\,z,eq=k\\=v,colon=h\\:1;b");
    ASSERT_TRUE(p) << p.error;
    ASSERT_EQ(p.value->size(), 2u);
    EXPECT_EQ((*p.value)[0].args,
              (KeyValues{{"path", "x;y,z"}, {"eq", "k=v"}, {"colon", "h:1"}}));
    EXPECT_EQ((*p.value)[1].name, "b");
}

TEST(PandaOption, ValueMayContainEqualsAfterTheFirst) {
    auto p = parse_panda_option("a:expr=x=1");
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ((*p.value)[0].args, (KeyValues{{"expr", "x=1"}}));
}

TEST(PandaOption, RejectsMalformedStrings) {
    EXPECT_EQ(parse_panda_option("").error, "empty plugin name in ''");
    EXPECT_EQ(parse_panda_option("a;;b").error, "empty plugin name in 'a;;b'");
    EXPECT_EQ(parse_panda_option(":k=v").error, "empty plugin name in ':k=v'");
    EXPECT_EQ(parse_panda_option("a:novalue").error,
              "plugin 'a': argument 'novalue' has no '=': write key=value");
    EXPECT_EQ(parse_panda_option("a:=v").error, "plugin 'a': argument '=v' has an empty key");
    EXPECT_EQ(parse_panda_option("a:k=v\\").error, "trailing backslash in 'a:k=v\\'");
}

TEST(PandaArg, SplitsPluginKeyAndValue) {
    auto p = parse_panda_arg("syscalls:file=/tmp/a:b=c,d");
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->plugin, "syscalls");
    EXPECT_EQ(p.value->key, "file");
    EXPECT_EQ(p.value->value, "/tmp/a:b=c,d");
    EXPECT_EQ(parse_panda_arg("panda_syscalls.so:k=").value->plugin, "syscalls");
}

TEST(PandaArg, RejectsMalformedArguments) {
    EXPECT_EQ(parse_panda_arg("nokey").error, "'nokey' is not plugin:key=value");
    EXPECT_EQ(parse_panda_arg(":k=v").error, "':k=v' is not plugin:key=value");
    EXPECT_EQ(parse_panda_arg("p:k").error, "'p:k' has no '=': write plugin:key=value");
    EXPECT_EQ(parse_panda_arg("p:=v").error, "'p:=v' has an empty key");
}

TEST(PluginNames, ShortAndFileNames) {
    EXPECT_EQ(plugin_short_name("syscalls"), "syscalls");
    EXPECT_EQ(plugin_short_name("panda_syscalls.so"), "syscalls");
    EXPECT_EQ(plugin_short_name("/a/b/panda_syscalls.so"), "syscalls");
    EXPECT_EQ(plugin_short_name("./mine.so"), "mine");
    EXPECT_EQ(plugin_file_name("syscalls"), "panda_syscalls.so");
}

TEST(TypedValues, Booleans) {
    for (const char* t : {"true", "YES", "on", "1"}) {
        EXPECT_EQ(parse_bool_value(t).value, true) << t;
    }
    for (const char* f : {"false", "No", "off", "0"}) {
        EXPECT_EQ(parse_bool_value(f).value, false) << f;
    }
    EXPECT_EQ(parse_bool_value("maybe").error,
              "'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)");
}

TEST(TypedValues, UnsignedNumbers) {
    EXPECT_EQ(parse_uint64_value("42").value, 42u);
    EXPECT_EQ(parse_uint64_value("0x1000b5").value, 0x1000b5u);
    EXPECT_EQ(parse_uint64_value("18446744073709551615").value, UINT64_MAX);
    EXPECT_EQ(parse_uint64_value("18446744073709551616").error,
              "'18446744073709551616' does not fit in 64 bits");
    EXPECT_EQ(parse_uint64_value("-1").error, "'-1' is not an unsigned number");
    EXPECT_EQ(parse_uint64_value("12ab").error, "'12ab' is not an unsigned number");
    EXPECT_EQ(parse_uint64_value("").error, "'' is not an unsigned number");
}

TEST(TypedValues, Doubles) {
    EXPECT_EQ(parse_double_value("0.25").value, 0.25);
    EXPECT_EQ(parse_double_value("-3e2").value, -300.0);
    EXPECT_EQ(parse_double_value("x").error, "'x' is not a number");
    EXPECT_EQ(parse_double_value("inf").error, "'inf' is not a finite number");
}

}  // namespace
}  // namespace hypanda
