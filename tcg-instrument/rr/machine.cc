// The snapshot's machine state (machine.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "machine.h"

namespace hypanda::rr {
namespace {

constexpr uint32_t kMaxBlocks = 256;

void put_le(std::vector<uint8_t>* out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) {
        out->push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}

}  // namespace

std::vector<uint8_t> machine_state_bytes(const MachineState& m) {
    std::vector<uint8_t> out;
    put_le(&out, m.blocks.size(), 4);
    for (const RamBlock& b : m.blocks) {
        put_le(&out, b.name.size(), 1);
        out.insert(out.end(), b.name.begin(), b.name.end());
        put_le(&out, b.bytes, 8);
    }
    put_le(&out, m.cpu.size(), 4);
    out.insert(out.end(), m.cpu.begin(), m.cpu.end());
    return out;
}

bool parse_machine_state(const std::vector<uint8_t>& bytes, const std::string& name, MachineState* m,
                         std::string* err) {
    size_t pos = 0;
    auto fail = [&](const std::string& what) {
        *err = name + ": corrupt machine state at byte " + std::to_string(pos) + " of the CPU-state part: " + what;
        return false;
    };
    auto get = [&](int n, uint64_t* v) {
        if (bytes.size() - pos < static_cast<size_t>(n)) {
            return false;
        }
        *v = 0;
        for (int i = 0; i < n; i++) {
            *v |= static_cast<uint64_t>(bytes[pos + i]) << (8 * i);
        }
        pos += n;
        return true;
    };
    uint64_t count = 0;
    if (!get(4, &count)) {
        return fail("it ends before the block count");
    }
    if (count == 0 || count > kMaxBlocks) {
        return fail(std::to_string(count) + " RAM blocks (1 to " + std::to_string(kMaxBlocks) + " are possible)");
    }
    m->blocks.clear();
    for (uint64_t i = 0; i < count; i++) {
        uint64_t len = 0;
        RamBlock b;
        if (!get(1, &len) || len == 0 || bytes.size() - pos < len) {
            return fail("block " + std::to_string(i) + "'s name is missing or cut short");
        }
        b.name.assign(bytes.begin() + pos, bytes.begin() + pos + len);
        pos += len;
        if (!get(8, &b.bytes)) {
            return fail("block " + std::to_string(i) + "'s size is cut short");
        }
        m->blocks.push_back(b);
    }
    uint64_t cpu = 0;
    if (!get(4, &cpu) || bytes.size() - pos != cpu) {
        return fail("the CPU state's length does not match what follows it");
    }
    m->cpu.assign(bytes.begin() + pos, bytes.end());
    return true;
}

}  // namespace hypanda::rr
