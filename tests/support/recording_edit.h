// Changing a recording as someone handing one over could: its log replaced
// and the manifest's checksum of the log made to match, so that the reader
// and the replay, not the checksum, meet what was changed. For tests that
// link the recording library (rr_dep).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "log.h"
#include "manifest.h"
#include "run.h"

namespace hypanda::test {

// Replaces rec/nondet.log with `bytes` and fixes the manifest's entry for it.
inline void replace_log(const std::string& rec, const std::string& bytes) {
    std::string err;
    ASSERT_EQ(unlink((rec + "/nondet.log").c_str()), 0);
    std::ofstream(rec + "/nondet.log", std::ios::binary) << bytes;
    rr::Manifest m;
    ASSERT_TRUE(rr::manifest_from_json(read_file(rec + "/manifest.json"), "x86_64", &m, &err)) << err;
    m.log.xxh64 = rr::xxh64(bytes.data(), bytes.size());
    m.log.bytes = bytes.size();
    std::ofstream(rec + "/manifest.json", std::ios::trunc) << rr::manifest_to_json(m);
}

// Writes `events` (the End entry last, as read) as rec's log, the same way.
inline void rewrite_log(const std::string& rec, const std::vector<rr::Event>& events) {
    std::string err;
    const std::string tmp = rec + "/nondet.log.new";
    rr::LogWriter w;
    ASSERT_TRUE(w.open(tmp, rr::kArchX86_64, &err)) << err;
    for (const rr::Event& e : events) {
        if (e.kind != rr::Kind::End) {
            w.append(e);
        }
    }
    ASSERT_TRUE(w.finish(events.back().icount, &err)) << err;
    const std::string bytes = read_file(tmp);
    ASSERT_EQ(unlink(tmp.c_str()), 0);
    replace_log(rec, bytes);
}

}  // namespace hypanda::test
