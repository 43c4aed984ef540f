// tainted_net (PANDA's label source for network input, docs/taint.md): in
// replay, the TCP payload bytes of every frame the guest received are
// labelled where the NIC put them in guest RAM, each with its offset in its
// connection's byte stream (from the sender's initial sequence number), so
// that a byte sent twice (a retransmission) carries the same label, and a
// program's view of the stream maps straight to labels.
//
//   -replay NAME -panda taint2:manual=on -panda tainted_net[:port=P][,label=N]
//     port   only segments from TCP port P (the server's; default: any)
//     label  every payload byte gets label N instead of its offset
//
// A frame is IPv4 in Ethernet (no VLAN tag); others are left alone. The
// recording gives the guest-physical address of a received frame's first
// byte (docs/recording.md: replay_handle_packet) when it found it; else the
// frame is looked for in the device writes into RAM replayed just before,
// or in those that follow. A payload byte is labelled only where guest RAM
// holds exactly that byte (a frame the NIC split over buffers is labelled
// as far as it is contiguous). Labelling
// turns taint on (taint2_label_ram). At the end, one line on stderr:
//   tainted_net: labelled B bytes of F frames (M not found in RAM)
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <panda/plugin.h>
#include <panda/plugin_plugin.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "taint2/taint2.h"

namespace {

uint64_t only_port;  // 0: any
std::optional<TaintLabel> fixed_label;
decltype(&taint2_label_ram) label_ram;

// A connection as the guest sees it: the sender's address and port, the
// guest's port. Its value: the sequence number of the stream's byte 0.
using Connection = std::tuple<uint32_t, uint16_t, uint16_t>;
std::map<Connection, uint32_t> stream_start;
uint64_t labelled, frames, missing;

// A received frame with TCP payload: its bytes, where the payload starts,
// its length, and the stream offset of its first byte.
struct Frame {
    std::vector<uint8_t> bytes;
    int first, payload;
    uint32_t offset;
};
// Frames not placed yet, and the latest device writes (guest address,
// bytes), a few each.
constexpr size_t kKept = 64;
constexpr uint32_t kLargestWrite = 1 << 16;
std::deque<Frame> unplaced;
std::deque<std::pair<uint64_t, std::vector<uint8_t>>> recent;

// Where the frame starts in `n` bytes (its first 64, or all if shorter).
std::optional<uint64_t> find(const uint8_t* bytes, size_t n, const Frame& f) {
    const size_t probe = std::min<size_t>(f.bytes.size(), 64);
    const auto* hit = static_cast<const uint8_t*>(memmem(bytes, n, f.bytes.data(), probe));
    return hit != nullptr ? std::optional<uint64_t>(hit - bytes) : std::nullopt;
}

// Labels the frame's payload at guest address addr (its first byte), as
// far as the bytes there — in RAM, or `source` for a write still to come —
// are the frame's.
void place(const Frame& f, uint64_t addr, const uint8_t* source) {
    for (int k = 0; k < f.payload; k++) {
        const uint64_t pa = addr + f.first + k;
        uint8_t there = 0;
        if (source != nullptr) {
            there = source[f.first + k];
        } else if (panda_physical_memory_rw(pa, &there, 1, 0) != 0) {
            there = static_cast<uint8_t>(~f.bytes[f.first + k]);
        }
        if (there != f.bytes[f.first + k]) {
            missing += f.payload - k;
            return;
        }
        label_ram(pa, fixed_label ? *fixed_label : f.offset + k);
        labelled++;
    }
}

uint32_t be16(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 8 | p[1];
}
uint32_t be32(const uint8_t* p) {
    return be16(p) << 16 | be16(p + 2);
}

int on_packet(CPUState* cpu, uint8_t* buf, int size, uint8_t direction, uint64_t addr) {
    (void)cpu;
    constexpr int kEthernet = 14;
    if (direction != 0 || buf == nullptr || size < kEthernet + 20 || be16(buf + 12) != 0x0800) {
        return 0;  // sent, or not IPv4 in Ethernet
    }
    const uint8_t* ip = buf + kEthernet;
    const int ip_header = (ip[0] & 0x0f) * 4;
    const int ip_total = static_cast<int>(be16(ip + 2));
    if ((ip[0] >> 4) != 4 || ip[9] != 6 || ip_header < 20 || ip_total > size - kEthernet ||
        ip_total < ip_header + 20 || (be16(ip + 6) & 0x3fff) != 0) {
        return 0;  // not TCP, malformed, or a fragment
    }
    const uint8_t* tcp = ip + ip_header;
    const int tcp_header = (tcp[12] >> 4) * 4;
    if (tcp_header < 20 || ip_header + tcp_header > ip_total) {
        return 0;
    }
    const uint16_t from_port = static_cast<uint16_t>(be16(tcp)),
                   to_port = static_cast<uint16_t>(be16(tcp + 2));
    if (only_port != 0 && from_port != only_port) {
        return 0;
    }
    const Connection c{be32(ip + 12), from_port, to_port};
    const uint32_t seq = be32(tcp + 4);
    const bool syn = (tcp[13] & 0x02) != 0;
    if (syn) {
        stream_start[c] = seq + 1;  // the SYN takes one sequence number
    }
    const int payload = ip_total - ip_header - tcp_header;
    auto start = stream_start.find(c);
    if (payload <= 0 || start == stream_start.end()) {
        return 0;  // no data, or a connection begun before the recording
    }
    frames++;
    Frame f{std::vector<uint8_t>(buf, buf + size), kEthernet + ip_header + tcp_header, payload,
            seq - start->second};
    if (addr == 0) {
        // Not found while recording: in a device write replayed already,
        // or one still to come.
        for (auto it = recent.rbegin(); it != recent.rend() && addr == 0; ++it) {
            if (const auto at = find(it->second.data(), it->second.size(), f)) {
                addr = it->first + *at;
            }
        }
        if (addr == 0) {
            unplaced.push_back(std::move(f));
            if (unplaced.size() > kKept) {
                missing += unplaced.front().payload;
                unplaced.pop_front();
            }
            return 0;
        }
    }
    place(f, addr, nullptr);
    return 0;
}

// Replay: a device's write into guest RAM, about to happen (taint2, loaded
// first, has just cleared those bytes): kept a while for frames found
// later, and a frame waiting for it is labelled there.
int on_dma(CPUState* cpu, uint32_t is_write, uint64_t src, uint64_t dest, uint32_t n) {
    (void)cpu;
    if (is_write == 0 || n == 0 || n > kLargestWrite) {
        return 0;
    }
    const auto* bytes = reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(src));
    for (auto it = unplaced.begin(); it != unplaced.end();) {
        if (const auto at = find(bytes, n, *it)) {
            place(*it, dest + *at, bytes + *at);
            it = unplaced.erase(it);
        } else {
            ++it;
        }
    }
    recent.emplace_back(dest, std::vector<uint8_t>(bytes, bytes + n));
    if (recent.size() > kKept) {
        recent.pop_front();
    }
    return 0;
}

}  // namespace

extern "C" bool init_plugin(void* self) {
    panda_arg_list* args = panda_get_args("tainted_net");
    only_port = panda_parse_uint64_opt(args, "port", 0, "only segments from this TCP port");
    const uint64_t label = panda_parse_uint64_opt(args, "label", UINT64_MAX,
                                                  "one label for every byte (default: offsets)");
    panda_free_args(args);
    if (only_port > 65535) {
        fprintf(stderr, "tainted_net: port=%" PRIu64 ": not a TCP port (0..65535)\n", only_port);
        return false;
    }
    if (label != UINT64_MAX) {
        if (label > UINT32_MAX) {
            fprintf(stderr, "tainted_net: label=%" PRIu64 ": labels are 32 bits\n", label);
            return false;
        }
        fixed_label = static_cast<TaintLabel>(label);
    }
    if (panda_require("taint2") == nullptr) {
        return false;
    }
    label_ram = PANDA_IMPORT("taint2", taint2_label_ram);
    panda_cb cb;
    cb.replay_handle_packet = on_packet;
    panda_register_callback(self, PANDA_CB_REPLAY_HANDLE_PACKET, cb);
    cb.replay_before_cpu_physical_mem_rw_ram = on_dma;
    panda_register_callback(self, PANDA_CB_REPLAY_BEFORE_CPU_PHYSICAL_MEM_RW_RAM, cb);
    return true;
}

extern "C" void uninit_plugin(void* self) {
    (void)self;
    for (const Frame& f : unplaced) {
        missing += f.payload;
    }
    fprintf(stderr,
            "tainted_net: labelled %" PRIu64 " bytes of %" PRIu64 " frames (%" PRIu64
            " not found in RAM)\n",
            labelled, frames, missing);
    stream_start.clear();
    unplaced.clear();
    recent.clear();
}
