// The emulator exports exactly the SDK's functions to plugins: the linker
// list include/panda/panda-plugin.symbols must name every function the SDK
// header declares, and nothing else.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(SdkSymbols, DynamicListMatchesTheHeader) {
    const std::string root = SOURCE_ROOT;
    std::string header = slurp(root + "/include/panda/plugin.h");
    ASSERT_FALSE(header.empty());
    std::set<std::string> declared;
    // A declaration: a return type, then panda_<name>( at the start of a line.
    std::regex decl(R"(\n[A-Za-z_][A-Za-z0-9_ ]*[ *](panda_[a-z0-9_]+)\()");
    for (std::sregex_iterator it(header.begin(), header.end(), decl), end; it != end; ++it) {
        declared.insert((*it)[1]);
    }
    std::string list = slurp(root + "/include/panda/panda-plugin.symbols");
    std::set<std::string> listed;
    std::regex entry(R"(\b(panda_[a-z0-9_]+);)");
    for (std::sregex_iterator it(list.begin(), list.end(), entry), end; it != end; ++it) {
        listed.insert((*it)[1]);
    }
    EXPECT_GE(declared.size(), 30u);
    EXPECT_EQ(declared, listed);
}

}  // namespace
