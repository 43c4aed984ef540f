// The fake host (see fake_host.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "fake_host.h"

#include <cstdarg>
#include <cstdio>

#include "host.h"
#include "runtime.h"

namespace hypanda::test {

FakeHost& fake_host() {
    static FakeHost host;
    return host;
}

void FakeHost::reach_safe_point() {
    auto work = std::move(safe_work);
    safe_work.clear();
    bool was = on_vcpu_thread;
    on_vcpu_thread = false;
    for (auto& [fn, data] : work) {
        fn(data);
    }
    on_vcpu_thread = was;
}

void FakeHost::reset() { *this = FakeHost{}; }

}  // namespace hypanda::test

using hypanda::test::fake_host;

extern "C" {
void hypanda_host_error(const char* message) { fake_host().errors.push_back(message); }
void hypanda_host_info(const char* message) { fake_host().infos.push_back(message); }
bool hypanda_host_on_vcpu_thread(void) { return fake_host().on_vcpu_thread; }
void hypanda_host_at_safe_point(void (*fn)(void*), void* data) {
    fake_host().safe_work.emplace_back(fn, data);
}
void hypanda_host_flush_translations(void) { fake_host().flushes++; }
const char* hypanda_host_binary_dir(void) { return fake_host().binary_dir.c_str(); }
void hypanda_host_request_exit(void) { fake_host().exit_requests++; }
void hypanda_host_plugin_unloading(void* handle) { fake_host().unloading.push_back(handle); }

// The emulator's monitor printing, reduced to standard output.
void panda_monitor_printf(Monitor* mon, const char* fmt, ...) {
    (void)mon;
    va_list ap;
    va_start(ap, fmt);
    std::vprintf(fmt, ap);
    va_end(ap);
}
}
