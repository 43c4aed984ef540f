// The plugin registry and the SDK's management and argument functions, on
// real plugins (tests/plugins/) loaded into this process with a fake host.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <string>

#include "fake_host.h"
#include "registry.h"
#include "runtime.h"

namespace hypanda::test {
namespace {

using testing::internal::CaptureStdout;
using testing::internal::GetCapturedStdout;

const std::string kPlugins = TEST_PLUGIN_DIR;

std::string plugin(const std::string& name) { return kPlugins + "/panda_" + name + ".so"; }

class RegistryTest : public testing::Test {
protected:
    void SetUp() override {
        fake_host().reset();
        unsetenv("PANDA_PLUGIN_DIR");
    }
    void TearDown() override {
        CaptureStdout();
        hypanda_unload_all_plugins(true);
        GetCapturedStdout();
        Registry::instance().clear_arguments();
    }

    // Loads through the monitor path; returns the error or "".
    std::string load(const std::string& path, const std::string& args = "", int* index = nullptr) {
        int i = -1;
        char* name = nullptr;
        char* err = hypanda_monitor_load(path.c_str(), args.c_str(), &i, &name);
        std::string out = err ? err : "";
        free(err);
        free(name);
        if (index != nullptr) {
            *index = i;
        }
        return out;
    }
};

TEST_F(RegistryTest, LoadsAPluginAndHandsItItsArguments) {
    CaptureStdout();
    int index = -1;
    EXPECT_EQ(load(plugin("keyfind"), "base=dir,foo=bar", &index), "");
    EXPECT_EQ(GetCapturedStdout(), "standin keyfind: init base=dir foo=bar\n");
    Plugin* p = Registry::instance().by_name("panda_keyfind.so");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p, Registry::instance().by_name("keyfind"));
    EXPECT_EQ(p, Registry::instance().by_index(index));
    EXPECT_EQ(panda_get_plugin_by_name("panda_keyfind.so"), p->handle);
    EXPECT_NE(p->base, 0u);
    EXPECT_EQ(hypanda_plugin_count(), 1);
}

TEST_F(RegistryTest, CommandLineArgumentsMergeWithPandaArg) {
    ASSERT_EQ(hypanda_option_panda("textfinder;asidstory;keyfind:base=dir,foo=bar"), 0);
    ASSERT_EQ(hypanda_option_panda_arg("keyfind:extra=1"), 0);
    setenv("PANDA_PLUGIN_DIR", kPlugins.c_str(), 1);
    CaptureStdout();
    ASSERT_EQ(hypanda_load_startup_plugins(), 0) << testing::PrintToString(fake_host().errors);
    EXPECT_EQ(GetCapturedStdout(),
              "standin textfinder: init\n"
              "standin asidstory: init\n"
              "standin keyfind: init extra=1 base=dir foo=bar\n");
    std::vector<std::string> names;
    for (Plugin* p : Registry::instance().plugins()) {
        names.push_back(p->file_name);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"panda_textfinder.so", "panda_asidstory.so",
                                               "panda_keyfind.so"}));
}

TEST_F(RegistryTest, SearchesNextToTheBinaryThenPandaPluginDir) {
    fake_host().binary_dir = "/bin-dir";
    setenv("PANDA_PLUGIN_DIR", ("/first:" + kPlugins).c_str(), 1);
    auto found = Registry::instance().find("typed");
    ASSERT_TRUE(found) << found.error;
    EXPECT_EQ(*found.value, plugin("typed"));
    EXPECT_EQ(Registry::instance().find("ghost").error,
              "plugin 'ghost': not found; looked for /bin-dir/panda_plugins/panda_ghost.so, "
              "/bin-dir/../lib/hypanda/panda_plugins/panda_ghost.so, "
              "/first/panda_ghost.so, " + kPlugins + "/panda_ghost.so (set PANDA_PLUGIN_DIR to add folders)");
}

TEST_F(RegistryTest, RefusesAPluginBuiltForAnotherAbi) {
    EXPECT_EQ(load(plugin("badabi")),
              "plugin 'badabi': built for SDK ABI 99, this emulator serves ABI 1; rebuild it against this SDK");
    EXPECT_EQ(hypanda_plugin_count(), 0);
}

TEST_F(RegistryTest, RefusesAPluginWithoutInitPlugin) {
    EXPECT_EQ(load(plugin("noinit")), "plugin 'noinit': " + plugin("noinit") + " has no init_plugin function");
}

TEST_F(RegistryTest, RefusesAFileThatIsNotAPlugin) {
    std::string path = testing::TempDir() + "panda_text.so";
    std::ofstream(path) << "not an ELF file\n";
    std::string err = load(path);
    EXPECT_EQ(err.rfind("plugin 'text': cannot load " + path + ": ", 0), 0u) << err;
    EXPECT_EQ(load("/nonexistent/panda_x.so"), "plugin '/nonexistent/panda_x.so': no such file");
}

TEST_F(RegistryTest, UnloadsAPluginWhoseInitFailsWithoutUninit) {
    CaptureStdout();
    EXPECT_EQ(load(plugin("failinit")), "plugin 'failinit': init_plugin returned false; plugin unloaded");
    EXPECT_EQ(GetCapturedStdout(), "failinit: refusing\n");
    EXPECT_EQ(hypanda_plugin_count(), 0);
}

TEST_F(RegistryTest, RefusesToLoadOnePluginTwice) {
    CaptureStdout();
    int index = -1;
    ASSERT_EQ(load(plugin("textfinder"), "", &index), "");
    EXPECT_EQ(load(plugin("textfinder")),
              "plugin 'textfinder': already loaded (index " + std::to_string(index) + ")");
    GetCapturedStdout();
}

TEST_F(RegistryTest, TypedArgumentsParseAndReportErrors) {
    CaptureStdout();
    EXPECT_EQ(load(plugin("typed"), "n=0x10,flag=yes,ratio=0.25,name=x"), "");
    EXPECT_EQ(GetCapturedStdout(), "typed: flag=1 n=16 ratio=0.25 name=x\n");
    hypanda_unload_all_plugins(true);
    Registry::instance().clear_arguments();

    CaptureStdout();
    EXPECT_EQ(load(plugin("typed"), "flag=perhaps"),
              "plugin 'typed': not loaded: its arguments are wrong (see above)");
    GetCapturedStdout();
    EXPECT_EQ(fake_host().errors,
              (std::vector<std::string>{
                  "plugin 'typed': argument 'flag': 'perhaps' is not a boolean (true/false, yes/no, "
                  "on/off, 1/0) (flag: a boolean)",
                  "plugin 'typed': argument 'n': missing; give it with -panda-arg or -panda (n: a "
                  "required count)"}));
    EXPECT_EQ(hypanda_plugin_count(), 0);
}

TEST_F(RegistryTest, ArgumentsForAPluginThatIsNotLoadedAreAnError) {
    setenv("PANDA_PLUGIN_DIR", kPlugins.c_str(), 1);
    ASSERT_EQ(hypanda_option_panda("textfinder"), 0);
    ASSERT_EQ(hypanda_option_panda_arg("ghost:k=v"), 0);
    CaptureStdout();
    EXPECT_EQ(hypanda_load_startup_plugins(), -1);
    GetCapturedStdout();
    EXPECT_EQ(fake_host().errors,
              (std::vector<std::string>{"-panda-arg: arguments for plugin 'ghost', which is not "
                                        "loaded (loaded: textfinder)"}));
}

TEST_F(RegistryTest, MalformedOptionsAreReported) {
    EXPECT_EQ(hypanda_option_panda("a;;b"), -1);
    EXPECT_EQ(hypanda_option_panda_arg("nokey"), -1);
    EXPECT_EQ(hypanda_option_panda_plugin(""), -1);
    EXPECT_EQ(fake_host().errors,
              (std::vector<std::string>{"empty plugin name in 'a;;b'",
                                        "'nokey' is not plugin:key=value",
                                        "needs the path of a plugin file"}));
}

TEST_F(RegistryTest, BadIndexesAreReported) {
    char* err = hypanda_monitor_unload(7);
    EXPECT_STREQ(err, "unload_plugin: no plugin with index 7; no plugin is loaded");
    free(err);
    CaptureStdout();
    int index = -1;
    ASSERT_EQ(load(plugin("textfinder"), "", &index), "");
    GetCapturedStdout();
    err = hypanda_monitor_set_enabled(-1, false);
    EXPECT_EQ(std::string(err), "disable_plugin: no plugin with index -1; loaded indexes: " +
                                    std::to_string(index));
    free(err);
}

TEST_F(RegistryTest, DisabledPluginsCallbacksDoNotRun) {
    CaptureStdout();
    int index = -1;
    ASSERT_EQ(load(plugin("textfinder"), "", &index), "");
    GetCapturedStdout();
    CaptureStdout();
    hypanda_run_monitor(nullptr, "textfinder");
    char* err = hypanda_monitor_set_enabled(index, false);
    EXPECT_EQ(err, nullptr);
    hypanda_run_monitor(nullptr, "textfinder");
    err = hypanda_monitor_set_enabled(index, true);
    EXPECT_EQ(err, nullptr);
    hypanda_run_monitor(nullptr, "textfinder");
    EXPECT_EQ(GetCapturedStdout(), "standin textfinder: here\nstandin textfinder: here\n");
}

TEST_F(RegistryTest, EnablingOrDisablingRetranslates) {
    // Generated code calls only enabled plugins: each change is a flush,
    // and setting the state a plugin already has is not.
    CaptureStdout();
    int index = -1;
    ASSERT_EQ(load(plugin("textfinder"), "", &index), "");
    GetCapturedStdout();
    const int before = fake_host().flushes;
    free(hypanda_monitor_set_enabled(index, false));
    EXPECT_EQ(fake_host().flushes, before + 1);
    free(hypanda_monitor_set_enabled(index, false));
    EXPECT_EQ(fake_host().flushes, before + 1);
    free(hypanda_monitor_set_enabled(index, true));
    EXPECT_EQ(fake_host().flushes, before + 2);
}

TEST_F(RegistryTest, UnloadRunsUninitAndRemovesCallbacks) {
    CaptureStdout();
    int index = -1;
    ASSERT_EQ(load(plugin("textfinder"), "", &index), "");
    char* err = hypanda_monitor_unload(index);
    EXPECT_EQ(err, nullptr);
    hypanda_run_monitor(nullptr, "textfinder");
    EXPECT_EQ(GetCapturedStdout(), "standin textfinder: init\nstandin textfinder: uninit\n");
    EXPECT_FALSE(hypanda_wants(PANDA_CB_MONITOR));
    EXPECT_EQ(hypanda_plugin_count(), 0);
}

TEST_F(RegistryTest, UnloadFromACallbackWaitsForTheSafePoint) {
    CaptureStdout();
    ASSERT_EQ(load(plugin("textfinder")), "");
    fake_host().on_vcpu_thread = true;
    panda_unload_plugin(panda_get_plugin_by_name("textfinder"));
    EXPECT_EQ(hypanda_plugin_count(), 1);  // still mapped: a callback may be running
    hypanda_run_monitor(nullptr, "textfinder");  // but its callbacks no longer run
    fake_host().reach_safe_point();
    EXPECT_EQ(hypanda_plugin_count(), 0);
    EXPECT_EQ(GetCapturedStdout(), "standin textfinder: init\nstandin textfinder: uninit\n");
}

TEST_F(RegistryTest, OnePluginManagesAnother) {
    CaptureStdout();
    ASSERT_EQ(load(plugin("manager")), "");
    std::string cmd = "manager load " + plugin("asidstory");
    hypanda_run_monitor(nullptr, cmd.c_str());
    hypanda_run_monitor(nullptr, "asidstory");
    hypanda_run_monitor(nullptr, "manager disable asidstory");
    hypanda_run_monitor(nullptr, "asidstory");
    hypanda_run_monitor(nullptr, "manager enable asidstory");
    hypanda_run_monitor(nullptr, "asidstory");
    hypanda_run_monitor(nullptr, "manager unload asidstory");
    hypanda_run_monitor(nullptr, "manager disable asidstory");
    EXPECT_EQ(GetCapturedStdout(),
              "standin asidstory: init\n"
              "manager: load " + plugin("asidstory") + ": ok\n"
              "standin asidstory: here\n"
              "manager: disabled asidstory\n"
              "manager: enabled asidstory\n"
              "standin asidstory: here\n"
              "manager: unloaded asidstory\n"
              "standin asidstory: uninit\n"
              "manager: no plugin asidstory\n");
}

TEST_F(RegistryTest, RegistrationFromACallbackWaitsForTheSafePoint) {
    CaptureStdout();
    ASSERT_EQ(load(plugin("manager")), "");
    fake_host().on_vcpu_thread = true;
    std::string cmd = "manager load " + plugin("keyfind");
    hypanda_run_monitor(nullptr, cmd.c_str());
    EXPECT_EQ(Registry::instance().callbacks(PANDA_CB_MONITOR).size(), 1u);
    fake_host().reach_safe_point();
    EXPECT_EQ(Registry::instance().callbacks(PANDA_CB_MONITOR).size(), 2u);
    GetCapturedStdout();
}

// ---- Plugin-to-plugin interfaces (tests/plugins/ppp_*.c) ----

std::vector<std::string> loaded_names() {
    std::vector<std::string> names;
    for (Plugin* p : Registry::instance().plugins()) {
        names.push_back(p->short_name);
    }
    return names;
}

TEST_F(RegistryTest, PppUserRequiresRegistersImportsAndRemoves) {
    setenv("PANDA_PLUGIN_DIR", kPlugins.c_str(), 1);
    ASSERT_EQ(hypanda_option_panda_arg("ppp_provider:greeting=hello"), 0);
    CaptureStdout();
    ASSERT_EQ(load(plugin("ppp_user")), "");
    EXPECT_EQ(GetCapturedStdout(),
              "provider: init greeting=hello\n"          // loaded by panda_require, with -panda-arg's
              "user: tick 5\n"                           // plain callbacks first,
              "user: tick 5 with context, total 5\n"     // then those with context
              "user: 2 registered\n"
              "user: tick 6 with context, total 11\n"    // PPP_REMOVE_CB took the plain one away
              "user: 1 registered\n"
              "user: 0 registered\n");
    EXPECT_EQ(loaded_names(), (std::vector<std::string>{"ppp_provider", "ppp_user"}));
    EXPECT_TRUE(fake_host().errors.empty()) << testing::PrintToString(fake_host().errors);
}

TEST_F(RegistryTest, PppProviderInUseIsNotUnloaded) {
    setenv("PANDA_PLUGIN_DIR", kPlugins.c_str(), 1);
    CaptureStdout();
    ASSERT_EQ(load(plugin("ppp_user"), "mode=keep"), "");
    Plugin* provider = Registry::instance().by_name("ppp_provider");
    ASSERT_NE(provider, nullptr);
    auto registered = reinterpret_cast<int (*)()>(dlsym(provider->handle, "provider_registered"));
    ASSERT_NE(registered, nullptr);
    EXPECT_EQ(registered(), 2);

    char* err = hypanda_monitor_unload(provider->index);
    ASSERT_NE(err, nullptr);
    EXPECT_STREQ(err, "unload_plugin: plugin 'ppp_provider': not unloaded: 'ppp_user' uses it; "
                      "unload that first");
    free(err);
    panda_unload_plugin(provider->handle);
    EXPECT_EQ(fake_host().errors, (std::vector<std::string>{
                                      "plugin 'ppp_provider': not unloaded: 'ppp_user' uses it; "
                                      "unload that first"}));
    EXPECT_EQ(hypanda_plugin_count(), 2);

    // Unloading the user removes what it left registered at the provider;
    // then the provider goes.
    EXPECT_EQ(hypanda_monitor_unload(Registry::instance().by_name("ppp_user")->index), nullptr);
    EXPECT_EQ(registered(), 0);
    EXPECT_EQ(hypanda_monitor_unload(provider->index), nullptr);
    EXPECT_EQ(GetCapturedStdout(), "provider: init greeting=none\nuser: uninit\nprovider: uninit\n");
}

TEST_F(RegistryTest, PppPluginsUnloadAtExitUsersFirst) {
    setenv("PANDA_PLUGIN_DIR", kPlugins.c_str(), 1);
    CaptureStdout();
    ASSERT_EQ(load(plugin("ppp_user"), "mode=keep"), "");
    hypanda_unload_all_plugins(true);
    EXPECT_EQ(GetCapturedStdout(), "provider: init greeting=none\nuser: uninit\nprovider: uninit\n");
    EXPECT_EQ(hypanda_plugin_count(), 0);
}

TEST_F(RegistryTest, PppAProviderLoadedFirstIsRequiredNotReloaded) {
    setenv("PANDA_PLUGIN_DIR", kPlugins.c_str(), 1);
    CaptureStdout();
    ASSERT_EQ(load(plugin("ppp_provider"), "greeting=first"), "");
    ASSERT_EQ(load(plugin("ppp_user"), "mode=keep"), "");
    EXPECT_EQ(GetCapturedStdout(), "provider: init greeting=first\n");
    EXPECT_EQ(loaded_names(), (std::vector<std::string>{"ppp_provider", "ppp_user"}));
    EXPECT_EQ(Registry::instance().users_of(Registry::instance().by_name("ppp_provider")),
              (std::vector<Plugin*>{Registry::instance().by_name("ppp_user")}));
}

// Each failure: one message naming the plugin, the other plugin and the
// symbol; nothing of the failed load stays (not the provider it loaded).
TEST_F(RegistryTest, PppFailuresAreOneLineAndLeaveNothingLoaded) {
    setenv("PANDA_PLUGIN_DIR", kPlugins.c_str(), 1);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"mode=no_symbol",
         "plugin 'ppp_user': not loaded: cannot import 'provider_untick' from plugin "
         "'ppp_provider': it exports no such symbol"},
        {"mode=no_point",
         "plugin 'ppp_user': not loaded: cannot register a callback at PPP point 'on_tock' of "
         "plugin 'ppp_provider': it has no such callback point (no ppp_add_cb_on_tock)"},
        {"mode=no_provider",
         "plugin 'ppp_user': not loaded: cannot import 'provider_tick' from plugin "
         "'ppp_provider': it is not loaded (panda_require it first)"},
        {"mode=missing",
         "plugin 'ppp_user': not loaded: panda_require('no_such_plugin'): plugin 'no_such_plugin': "
         "not found; looked for /nonexistent/panda_plugins/panda_no_such_plugin.so, "
         "/nonexistent/../lib/hypanda/panda_plugins/panda_no_such_plugin.so, " +
             kPlugins + "/panda_no_such_plugin.so (set PANDA_PLUGIN_DIR to add folders)"},
    };
    for (const auto& [args, message] : cases) {
        CaptureStdout();
        EXPECT_EQ(load(plugin("ppp_user"), args), message) << args;
        std::string out = GetCapturedStdout();
        EXPECT_EQ(hypanda_plugin_count(), 0) << args;
        EXPECT_TRUE(fake_host().errors.empty()) << args;
        // A provider loaded for it was initialised, so it is unloaded properly.
        if (out.find("provider: init") != std::string::npos) {
            EXPECT_EQ(out, "provider: init greeting=none\nprovider: uninit\n") << args;
        }
    }
    // The provider loaded on its own stays when a user of it fails.
    CaptureStdout();
    ASSERT_EQ(load(plugin("ppp_provider")), "");
    EXPECT_NE(load(plugin("ppp_user"), "mode=no_symbol"), "");
    EXPECT_EQ(GetCapturedStdout(), "provider: init greeting=none\n");
    EXPECT_EQ(loaded_names(), (std::vector<std::string>{"ppp_provider"}));
    EXPECT_TRUE(Registry::instance().users_of(Registry::instance().by_name("ppp_provider")).empty());
}

TEST_F(RegistryTest, PppDependencyCycleIsRefused) {
    setenv("PANDA_PLUGIN_DIR", kPlugins.c_str(), 1);
    EXPECT_EQ(load(plugin("ppp_cycle_a")),
              "plugin 'ppp_cycle_a': not loaded: plugin 'ppp_cycle_b': not loaded: "
              "panda_require('ppp_cycle_a'): a dependency cycle: ppp_cycle_a -> ppp_cycle_b -> "
              "ppp_cycle_a");
    EXPECT_EQ(hypanda_plugin_count(), 0);
    EXPECT_TRUE(fake_host().errors.empty());
}

TEST_F(RegistryTest, PppRequestsOutsideInitAreReportedAtOnce) {
    // From the emulator itself (no plugin asking): an error line, NULL.
    EXPECT_EQ(panda_import("ppp_provider", "provider_tick"), nullptr);
    EXPECT_EQ(fake_host().errors,
              (std::vector<std::string>{"cannot import 'provider_tick' from plugin 'ppp_provider': "
                                        "it is not loaded (panda_require it first)"}));
}

}  // namespace
}  // namespace hypanda::test
