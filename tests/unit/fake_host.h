// A stand-in for the emulator around the plugin runtime (runtime/host.h),
// so the registry can be tested in a plain process.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <string>
#include <vector>

namespace hypanda::test {

struct FakeHost {
    std::vector<std::string> errors;
    std::vector<std::string> infos;
    bool on_vcpu_thread = false;
    std::vector<std::pair<void (*)(void*), void*>> safe_work;
    int flushes = 0;
    int exit_requests = 0;
    std::vector<void*> unloading;  // hypanda_host_plugin_unloading's handles
    std::string binary_dir = "/nonexistent";

    // Runs the work queued for the next safe point.
    void reach_safe_point();
    void reset();
};

FakeHost& fake_host();

}  // namespace hypanda::test
