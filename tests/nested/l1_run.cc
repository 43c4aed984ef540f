// l1-run: runs one command inside the nested route's L1 machine, by hand
// (docs/test-guest.md). The build tree's emulator, firmware, plugins and
// test guest are there at their usual paths; --file adds more.
//
//   HYPANDA_BUILD_ROOT=$PWD/build build/tests/l1-run [--file PATH]... -- COMMAND [ARG]...
//
// COMMAND runs in L1's /tmp, so give it absolute paths. L1's console, and
// so the command's output, shows as it comes; files the
// command leaves in /results are copied to ./l1-results. The exit status is
// the command's, or 1 when L1 could not run it.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "nested.h"

int main(int argc, char** argv) {
    std::vector<std::string> files, command;
    int i = 1;
    for (; i < argc; i++) {
        if (std::strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (std::strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
            files.push_back(argv[++i]);
            continue;
        }
        std::fprintf(stderr, "usage: l1-run [--file PATH]... -- COMMAND [ARG]...\n");
        return 2;
    }
    for (; i < argc; i++) {
        command.push_back(argv[i]);
    }
    if (command.empty()) {
        std::fprintf(stderr, "usage: l1-run [--file PATH]... -- COMMAND [ARG]...\n");
        return 2;
    }
    mkdir("l1-results", 0755);
    hypanda::test::L1Result r =
        hypanda::test::run_in_l1(command, {}, files, "l1-results", std::chrono::seconds(3600));
    if (!r.status) {
        std::fprintf(stderr, "l1-run: error: %s\n", r.error.c_str());
        return 1;
    }
    return *r.status;
}
