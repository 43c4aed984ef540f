// Record and replay of a Linux machine with real devices (docs/recording.md):
// Debian's kernel with the busybox initramfs (make-linux-guest, mode
// hplinux=netdisk) fetches a file over HTTP from a server this test runs on
// the host's loopback, through user-mode networking, prints its SHA-256,
// writes it to its disk, drops its caches, reads it back from the disk and
// prints the SHA-256 again, then stops the machine. The whole run is
// recorded from power-on, then replayed offline (no disk image, no network)
// ten times.
//
// Oracles this code did not produce: sha256sum(1) of the file, the disk
// image the recorded run left, and the bytes the server sent. Every replay
// must end verified (the recording's instruction count and RAM hash) and
// show the guest's console byte for byte as recorded; the replay callbacks
// must show the frames that carried the server's bytes, and the disk writes
// that put the file on the disk.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "log.h"
#include "recording_edit.h"
#include "run.h"

namespace {

using hypanda::test::build_root;
using hypanda::test::Child;
using hypanda::test::debug_exit_status;
using hypanda::test::emulator;
using hypanda::test::lines_starting_with;
using hypanda::test::only_line;
using hypanda::test::read_file;
using hypanda::test::replace_log;
using hypanda::test::rewrite_log;
using hypanda::test::run;
using hypanda::test::RunResult;
using hypanda::test::TempDir;

constexpr std::chrono::seconds kLimit{300};
constexpr int kReplays = 10;
constexpr size_t kFileBytes = 300000;

std::string guest_dir() { return build_root() + "/tests/linux"; }

// The file the guest fetches: bytes of a 32-bit LCG, fixed.
std::string file_bytes() {
    std::string data(kFileBytes, '\0');
    uint32_t x = 0x6e6574u;
    for (char& c : data) {
        x = x * 1664525u + 1013904223u;
        c = static_cast<char>(x >> 24);
    }
    return data;
}

// An HTTP/1.0 server on 127.0.0.1 (the guest reaches it as 10.0.2.2) that
// answers GET /file with `body`, and keeps what it sent.
class HttpServer {
public:
    explicit HttpServer(std::string body) : body_(std::move(body)) {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 4) != 0 ||
            getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            ADD_FAILURE() << "cannot listen on 127.0.0.1: " << std::strerror(errno);
            return;
        }
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~HttpServer() {
        stop_ = true;
        shutdown(fd_, SHUT_RDWR);
        if (thread_.joinable()) {
            thread_.join();
        }
        close(fd_);
    }
    int port() const { return port_; }
    std::string sent() const { return sent_; }
    int requests() const { return requests_; }

private:
    void serve() {
        while (!stop_) {
            const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) {
                return;
            }
            std::string request;
            char buf[4096];
            ssize_t n;
            while (request.find("\r\n\r\n") == std::string::npos && (n = read(c, buf, sizeof buf)) > 0) {
                request.append(buf, n);
            }
            std::string reply;
            if (request.rfind("GET /file ", 0) == 0) {
                reply = "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                        std::to_string(body_.size()) + "\r\n\r\n" + body_;
            } else {
                reply = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
            }
            size_t off = 0;
            while (off < reply.size() && (n = write(c, reply.data() + off, reply.size() - off)) > 0) {
                off += n;
            }
            sent_ += reply.substr(0, off);
            requests_++;
            close(c);
        }
    }

    std::string body_;
    int fd_ = -1;
    int port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::string sent_;
    std::atomic<int> requests_{0};
};

// sha256sum(1)'s hex digest of a file.
std::string sha256sum(const std::string& path) {
    RunResult r = run({"sha256sum", path}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_status, 0) << r.err;
    return r.out.substr(0, r.out.find(' '));
}

struct Frame {
    uint8_t direction = 0;
    uint64_t addr = 0;
    std::string bytes;
};

// devlog's frames file (tests/plugins/devlog.c).
std::vector<Frame> read_frames(const std::string& path) {
    const std::string data = read_file(path);
    std::vector<Frame> frames;
    size_t i = 0;
    auto le = [&](size_t at, int n) {
        uint64_t v = 0;
        for (int k = 0; k < n; k++) {
            v |= static_cast<uint64_t>(static_cast<uint8_t>(data[at + k])) << (8 * k);
        }
        return v;
    };
    while (i + 13 <= data.size()) {
        Frame f;
        f.direction = static_cast<uint8_t>(data[i]);
        const uint64_t len = le(i + 1, 4);
        f.addr = le(i + 5, 8);
        if (i + 13 + len > data.size()) {
            ADD_FAILURE() << path << ": a frame runs past the end";
            break;
        }
        f.bytes = data.substr(i + 13, len);
        frames.push_back(std::move(f));
        i += 13 + len;
    }
    EXPECT_EQ(i, data.size()) << path;
    return frames;
}

// The TCP payload the frames carried from source port `port` (IPv4 over
// Ethernet), put in sequence order; retransmitted segments count once.
std::string tcp_stream_from(const std::vector<Frame>& frames, int port, uint8_t direction) {
    std::map<uint32_t, std::string> segments;
    for (const Frame& f : frames) {
        const auto* b = reinterpret_cast<const uint8_t*>(f.bytes.data());
        const size_t n = f.bytes.size();
        if (f.direction != direction || n < 54 || b[12] != 0x08 || b[13] != 0x00 || b[23] != 6) {
            continue;
        }
        const size_t ihl = (b[14] & 0x0f) * 4u;
        const size_t total = (static_cast<size_t>(b[16]) << 8) | b[17];
        const uint8_t* tcp = b + 14 + ihl;
        if (14 + total > n || 14 + ihl + 20 > n || ((tcp[0] << 8) | tcp[1]) != port) {
            continue;
        }
        const size_t doff = (tcp[12] >> 4) * 4u;
        const uint32_t seq = (static_cast<uint32_t>(tcp[4]) << 24) | (tcp[5] << 16) | (tcp[6] << 8) | tcp[7];
        if (total > ihl + doff) {
            segments[seq] = std::string(reinterpret_cast<const char*>(tcp + doff), total - ihl - doff);
        }
    }
    std::string stream;
    uint32_t next = segments.empty() ? 0 : segments.begin()->first;
    for (const auto& [seq, payload] : segments) {
        if (seq == next) {
            stream += payload;
            next = seq + static_cast<uint32_t>(payload.size());
        } else if (seq > next) {
            ADD_FAILURE() << "a gap in the TCP stream at " << next;
            break;
        }
    }
    return stream;
}

namespace rr = hypanda::rr;

std::vector<rr::Event> read_events(const std::string& rec) {
    const std::string log = read_file(rec + "/nondet.log");
    std::vector<rr::Event> events;
    rr::LogStats stats;
    std::string err;
    EXPECT_TRUE(rr::read_log(reinterpret_cast<const uint8_t*>(log.data()), log.size(), "nondet.log",
                             rr::kArchX86_64, &stats, &events, &err))
        << err;
    return events;
}

// A recording of the workload cut short, and one whose received bytes were
// changed: each replay ends in one line saying what and where.
void corrupted_recordings(const std::string& rec, const std::string& body, const TempDir& tmp) {
    const std::vector<rr::Event> events = read_events(rec);
    ASSERT_GT(events.size(), 1000u);

    // Cut: the log's second half is gone (the manifest checksums what is
    // left, so the reader finds where it ends).
    ASSERT_EQ(run({"cp", "-r", rec, tmp.file("cut")}, kLimit).exit_status, 0);
    const std::string log = read_file(rec + "/nondet.log");
    replace_log(tmp.file("cut"), log.substr(0, log.size() / 2));
    RunResult cut = run({emulator(), "-replay", tmp.file("cut")}, kLimit);
    EXPECT_EQ(cut.exit_status, 1);
    const auto cut_lines = lines_starting_with(cut.err, "hypanda-system-x86_64: -replay " + tmp.file("cut") +
                                                            ": nondet.log: truncated: ");
    EXPECT_EQ(cut_lines.size(), 1u) << cut.err;
    // (QEMU's own warning that the NIC has no peer may come first: the
    // replay's NIC has no back-end on purpose.)
    EXPECT_EQ(lines_starting_with(cut.err, "hypanda-system-x86_64: ").size() -
                  lines_starting_with(cut.err, "hypanda-system-x86_64: warning: ").size(),
              1u)
        << cut.err;
    if (!cut_lines.empty()) {
        EXPECT_NE(cut_lines[0].find(" (entry "), std::string::npos) << cut_lines[0];
    }

    // Changed: one byte of the file as the NIC wrote it into guest RAM.
    std::vector<rr::Event> changed = events;
    const std::string probe = body.substr(100000, 64);
    size_t which = changed.size();
    for (size_t i = 0; i < changed.size() && which == changed.size(); i++) {
        rr::Event& e = changed[i];
        if (e.kind != rr::Kind::DmaWrite) {
            continue;
        }
        const std::string data(e.data.begin(), e.data.end());
        const size_t at = data.find(probe);
        if (at != std::string::npos) {
            e.data[at] ^= 0x01;
            which = i;
        }
    }
    ASSERT_LT(which, changed.size()) << "no DMA entry carries the file's bytes";
    ASSERT_EQ(run({"cp", "-r", rec, tmp.file("changed")}, kLimit).exit_status, 0);
    rewrite_log(tmp.file("changed"), changed);
    const std::string result = tmp.file("changed.json");
    RunResult p = run({emulator(), "-replay-result", result, "-replay", tmp.file("changed")}, kLimit);
    EXPECT_EQ(p.exit_status, 1);
    const auto lines = lines_starting_with(p.err, "hypanda-system-x86_64: replay " + tmp.file("changed") + " ");
    ASSERT_EQ(lines.size(), 1u) << p.err;
    // The guest's TCP finds the segment's checksum wrong and does something
    // else from there: the first difference the log can see ends the replay,
    // after the changed entry, naming the instruction, both sides and the PC.
    const std::string head = "hypanda-system-x86_64: replay " + tmp.file("changed") + " diverged at instruction ";
    ASSERT_EQ(lines[0].rfind(head, 0), 0u) << lines[0];
    const uint64_t at = std::stoull(lines[0].substr(head.size()));
    EXPECT_GE(at, changed[which].icount);
    EXPECT_NE(lines[0].find(" (PC 0x"), std::string::npos);
    EXPECT_NE(lines[0].find("; the recording has "), std::string::npos);
    const auto outcome = nlohmann::json::parse(read_file(result));
    EXPECT_EQ(outcome.at("verified"), false);
    EXPECT_EQ(outcome.at("instructions").get<uint64_t>(), at);
}

struct Machine {
    std::string nic;                          // the NIC's -device model
    std::vector<std::string> disk;            // options making the disk; DISK stands for the image
    std::string guest_disk;                   // its name in the guest
    bool corrupt = false;                     // also replay changed copies of the recording
};

// Records the netdisk run on `m` and replays it kReplays times; checks it
// all against the oracles.
void record_and_replay(const Machine& m) {
    const std::string dir = guest_dir();
    TempDir tmp;
    const std::string body = file_bytes();
    std::ofstream(tmp.file("file"), std::ios::binary) << body;
    const std::string want = sha256sum(tmp.file("file"));
    ASSERT_EQ(want.size(), 64u);
    {
        std::ofstream image(tmp.file("disk.img"), std::ios::binary);
        image.seekp(4 << 20);
        image.put('\0');
    }
    HttpServer server(body);
    ASSERT_NE(server.port(), 0);
    const std::string rec = tmp.file("rec");
    const std::string env_dir = "PANDA_PLUGIN_DIR=" + build_root() + "/tests/plugins";
    std::vector<std::string> args = {emulator(), "-accel", "tcg", "-display", "none", "-serial", "stdio", "-monitor",
                                     "none", "-no-reboot", "-m", "512", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                                     "-kernel", dir + "/vmlinuz", "-initrd", dir + "/initramfs.cpio.gz", "-append",
                                     "console=ttyS0 panic=-1 hplinux=netdisk hplinux.url=http://10.0.2.2:" +
                                         std::to_string(server.port()) + "/file hplinux.disk=" + m.guest_disk,
                                     "-netdev", "user,id=n0", "-device", m.nic + ",netdev=n0", "-record-from", ":" + rec,
                                     "-panda", "conout:output=" + tmp.file("record.con")};
    for (std::string a : m.disk) {
        const size_t at = a.find("DISK");
        if (at != std::string::npos) {
            a.replace(at, 4, tmp.file("disk.img"));
        }
        args.push_back(a);
    }
    Child recording(args, {env_dir});
    const RunResult r = recording.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << r.out << r.err;
    EXPECT_EQ(only_line(r.out, "HPLINUX fetched "), "HPLINUX fetched " + std::to_string(kFileBytes) + " " + want);
    EXPECT_EQ(only_line(r.out, "HPLINUX disk "), "HPLINUX disk " + std::to_string(kFileBytes) + " " + want);
    EXPECT_EQ(lines_starting_with(r.out, "HPLINUX error"), std::vector<std::string>{});
    EXPECT_EQ(server.requests(), 1);
    EXPECT_EQ(read_file(tmp.file("disk.img")).substr(0, kFileBytes), body);
    const std::string console = read_file(tmp.file("record.con"));
    EXPECT_NE(console.find("HPLINUX disk " + std::to_string(kFileBytes) + " " + want), std::string::npos);
    const uint64_t n = nlohmann::json::parse(read_file(rec + "/manifest.json")).at("instructions").get<uint64_t>();

    // Offline: nothing of the recording host's is needed.
    ASSERT_EQ(unlink(tmp.file("disk.img").c_str()), 0);
    for (int i = 0; i < kReplays; i++) {
        SCOPED_TRACE("replay " + std::to_string(i));
        const std::string con = tmp.file("replay" + std::to_string(i) + ".con");
        std::vector<std::string> args = {emulator(), "-replay", rec, "-panda", "conout:output=" + con};
        if (i == 0) {
            args.insert(args.end(), {"-panda", "devlog:frames=" + tmp.file("frames") + ",disk=" + tmp.file("seen") +
                                                   ",output=" + tmp.file("devlog")});
        }
        Child replay(args, {env_dir});
        const RunResult p = replay.wait(kLimit);
        ASSERT_EQ(p.exit_status, 0) << p.err;
        EXPECT_EQ(lines_starting_with(p.err, "replay verified"),
                  std::vector<std::string>{"replay verified: " + std::to_string(n) + " instructions, RAM hash ok"});
        EXPECT_EQ(read_file(con), console);
    }
    // What the replay callbacks said the devices did.
    const std::string seen = read_file(tmp.file("seen"));
    ASSERT_GE(seen.size(), kFileBytes);
    EXPECT_EQ(seen.substr(0, kFileBytes), body) << "replay_hd_transfer's RAM-to-disk transfers";
    const std::vector<Frame> frames = read_frames(tmp.file("frames"));
    EXPECT_EQ(tcp_stream_from(frames, server.port(), 0), server.sent()) << "replay_handle_packet's received frames";
    const std::string stats = read_file(tmp.file("devlog"));
    EXPECT_NE(stats.find("\nbad 0\n"), std::string::npos) << stats;
    // DMA both ways: replay_before_cpu_physical_mem_rw_ram says which (it
    // once said is_write=1 for everything).
    auto count = [&stats](const std::string& key) {
        const size_t at = stats.find("\n" + key + " ");
        return at == std::string::npos ? 0ull : std::stoull(stats.substr(at + key.size() + 2));
    };
    EXPECT_GT(count("dma_writes"), 0u) << stats;
    EXPECT_GT(count("dma_reads"), 0u) << stats;
    EXPECT_GT(count("frames_out"), 0u) << stats;
    std::cout << "devlog: " << stats;
    if (m.corrupt) {
        corrupted_recordings(rec, body, tmp);
    }
}

TEST(LinuxRecordReplay, VirtioDiskAndNetworkReplayOffline) {
    record_and_replay({"virtio-net-pci",
                       {"-drive", "file=DISK,format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0"},
                       "/dev/vda", true});
}

// The same on the PC's own IDE controller (bus-master DMA through the block
// layer's DMA helpers) and an e1000 NIC (descriptors and frames through the
// PCI DMA API).
TEST(LinuxRecordReplay, E1000AndIdeReplayOffline) {
    record_and_replay({"e1000", {"-drive", "file=DISK,format=raw,if=ide"}, "/dev/sda"});
}

// ---- network taint -------------------------------------------------------------

constexpr size_t kTaintBytes = 2500;  // two segments of the body at least

// The address and size of an hpana function, from binutils' nm.
std::pair<uint64_t, uint64_t> hpana_function(const std::string& name) {
    const RunResult r = run({"nm", "-S", "--defined-only", guest_dir() + "/hpana"}, std::chrono::seconds(60));
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);  // "addr size type name" (no size: 3 fields)
        std::string address, size, type, symbol;
        if (fields >> address >> size >> type >> symbol && symbol == name) {
            return {std::stoull(address, nullptr, 16), std::stoull(size, nullptr, 16)};
        }
    }
    ADD_FAILURE() << "nm lists no " << name << " in " << guest_dir() << "/hpana";
    return {0, 0};
}

// hplinux=nettaint: the guest fetches a file over HTTP (as above, on
// virtio-net), then `hpana netsum` reads it, asks taint2 what each byte
// carries, computes its SHA-256 and asks the same of the digest, and
// prints the digest through hpana_hex, which branches once per hex digit
// (hpana.c). Recorded with no plugin; replayed with tainted_net labelling
// every TCP payload byte from the server's port with its offset in the
// stream the server sent (headers, then the body: body byte i is at
// offset H + i, H the headers' length). So, from the source and the bytes
// the server sent: file byte i carries exactly {H + i}, a copy of a copy
// (compute number 0) through the guest's NIC, kernel, wget, tmpfs and
// read(); every digest byte carries all of {H .. H + N - 1} (SHA-256 mixes
// every input byte into every output byte) and the length's (below); the
// printed digest is
// sha256sum's; and the tainted branches in hpana's own code are
// hpana_hex's 64, one instruction, each with the digest's labels, and the
// loops' ends on the file's length, which carries exactly the labels of the
// Content-Length header's digits (wget writes what that says; the length
// goes into SHA-256's padding too, so the digest carries them as well).
// SHA-256 itself branches on nothing it computes from the bytes. Without tainted pointers
// (no_tp=on): with them, wget's stdio buffer positions, computed while it
// parsed the headers (where each line ends, Content-Length), taint every
// body byte it copies out with those header bytes' labels too — right,
// and what PANDA does, but not a model one can write down from the bytes.
TEST(LinuxTaint, NetworkBytesCarryTheirStreamOffsetsIntoTheChecksum) {
    TempDir tmp;
    const std::string body = file_bytes().substr(0, kTaintBytes);
    std::ofstream(tmp.file("file"), std::ios::binary) << body;
    const std::string want = sha256sum(tmp.file("file"));
    HttpServer server(body);
    ASSERT_NE(server.port(), 0);
    const std::string dir = guest_dir(), rec = tmp.file("rec");
    Child recording({emulator(), "-accel", "tcg", "-display", "none", "-serial", "stdio", "-monitor", "none",
                     "-no-reboot", "-m", "512", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel",
                     dir + "/vmlinuz", "-initrd", dir + "/initramfs.cpio.gz", "-append",
                     "console=ttyS0 panic=-1 hplinux=nettaint hplinux.url=http://10.0.2.2:" +
                         std::to_string(server.port()) + "/file",
                     "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0", "-record-from", ":" + rec},
                    {});
    const RunResult r = recording.wait(kLimit);
    ASSERT_EQ(r.exit_status, debug_exit_status(0)) << r.out << r.err;
    ASSERT_EQ(only_line(r.out, "HPANA netsum "), "HPANA netsum " + std::to_string(kTaintBytes) + " " + want);
    ASSERT_EQ(server.requests(), 1);
    const std::string sent = server.sent();
    ASSERT_EQ(sent.substr(sent.size() - body.size()), body);
    const size_t headers = sent.size() - body.size();

    const RunResult p = run({emulator(), "-replay", rec, "-panda",
                             "taint2:manual=on,no_tp=on,out=" + tmp.file("answers") + ";tainted_net:port=" +
                                 std::to_string(server.port()) + ";tainted_branch:process=on,out=" + tmp.file("branches")},
                            kLimit);
    ASSERT_EQ(p.exit_status, 0) << p.err;
    EXPECT_EQ(hypanda::test::lines_starting_with(p.err, "replay verified").size(), 1u) << p.err;
    // Every byte of the stream labelled (a retransmitted one again), and
    // each found in RAM where the recording says its frame went.
    unsigned long long labelled = 0, frames = 0, missing = 1;
    ASSERT_EQ(std::sscanf(only_line(p.err, "tainted_net: ").c_str(),
                          "tainted_net: labelled %llu bytes of %llu frames (%llu not found in RAM)", &labelled,
                          &frames, &missing),
              3)
        << p.err;
    EXPECT_GE(labelled, sent.size());
    EXPECT_GE(frames, 2u) << p.err;
    EXPECT_EQ(missing, 0u);

    // The answers: N lines for the file's bytes, 32 for the digest's.
    std::vector<std::string> labels;
    std::vector<unsigned> tcns;
    std::istringstream in(read_file(tmp.file("answers")));
    std::string line;
    while (std::getline(in, line)) {
        char got[65536] = {};
        unsigned long long address = 0;
        unsigned tcn = 0;
        ASSERT_GE(std::sscanf(line.c_str(), "TAINT %llx %65535s tcn %u", &address, got, &tcn), 2) << line;
        labels.push_back(got);
        tcns.push_back(tcn);
    }
    ASSERT_EQ(labels.size(), kTaintBytes + 32);
    // (Failures name the first byte that differs: label lists are long.)
    std::string all;
    size_t wrong = 0, first_wrong = 0;
    for (size_t i = 0; i < kTaintBytes; i++) {
        if (labels[i] != std::to_string(headers + i) || tcns[i] != 0) {
            first_wrong = wrong++ == 0 ? i : first_wrong;
        }
        all += (i == 0 ? "" : ",") + std::to_string(headers + i);
    }
    EXPECT_EQ(wrong, 0u) << "file byte " << first_wrong << ": " << labels[first_wrong].substr(0, 100) << " tcn "
                         << tcns[first_wrong];
    // The digest: every body byte, and the Content-Length value's digits
    // (wget's writes, so the file's size, so the length SHA-256's padding
    // holds, come from it).
    const size_t length_at = sent.find("Content-Length: ") + 16;
    const size_t length_end = sent.find("\r\n", length_at);
    std::string length_labels;
    for (size_t i = length_at; i < length_end; i++) {
        length_labels += (i == length_at ? "" : ",") + std::to_string(i);
    }
    const std::string digest_labels = length_labels + "," + all;
    for (size_t i = 0; i < 32; i++) {
        EXPECT_TRUE(labels[kTaintBytes + i] == digest_labels)
            << "digest byte " << i << ": " << labels[kTaintBytes + i].substr(0, 100);
        EXPECT_GT(tcns[kTaintBytes + i], 0u) << "digest byte " << i;
    }

    // hpana_hex's branches, and no other tainted branch in hpana's own code
    // (user space; the kernel's, on hpana's behalf, are the kernel's).
    const auto [hex_at, hex_size] = hpana_function("hpana_hex");
    std::istringstream branches(read_file(tmp.file("branches")));
    size_t in_hex = 0, length_branches = 0;
    std::set<uint64_t> hex_pcs;
    static char got[1 << 16];
    while (std::getline(branches, line)) {
        unsigned long long pc = 0, asid = 0;
        char kind[32] = {}, process[64] = {};
        unsigned tcn = 0;
        long pid = 0;
        ASSERT_EQ(std::sscanf(line.c_str(),
                              "TAINTED_BRANCH pc=%llx kind=%31s asid=%llx labels=%65535s tcn=%u process=%63s pid=%ld",
                              &pc, kind, &asid, got, &tcn, process, &pid),
                  7)
            << line.substr(0, 200);
        if (std::string(process) != "hpana" || pc >= 0x800000000000ull) {
            continue;
        }
        if (pc >= hex_at && pc < hex_at + hex_size) {
            in_hex++;
            hex_pcs.insert(pc);
            EXPECT_EQ(std::string(kind), "conditional");
            EXPECT_TRUE(std::string(got) == digest_labels) << "hpana_hex branch " << in_hex;
        } else {
            // The loops over the file (read's, SHA-256's blocks) end on its
            // length: the Content-Length digits', nothing of the body's.
            length_branches++;
            EXPECT_EQ(std::string(got), length_labels) << line.substr(0, 200);
        }
    }
    EXPECT_EQ(in_hex, 64u);
    EXPECT_GT(length_branches, 0u);

    // The same recording as if the recorder had not found where the frames
    // went (their entries' guest address 0), and the first data frame's
    // entry before the device write that carries it: tainted_net finds
    // them in the device writes replayed before, and after. The same
    // answers, byte for byte.
    std::vector<rr::Event> events = read_events(rec);
    bool moved = false;
    size_t zeroed = 0;
    for (size_t i = 0; i < events.size(); i++) {
        rr::Event& e = events[i];
        if (e.kind != rr::Kind::Packet || e.size != 0 || e.data.size() <= 54 || e.addr == 0) {
            continue;
        }
        e.addr = 0;
        zeroed++;
        if (!moved && i > 0 && events[i - 1].kind == rr::Kind::DmaWrite && events[i - 1].icount == e.icount &&
            events[i - 1].site == e.site) {
            std::swap(events[i - 1], events[i]);
            moved = true;
        }
    }
    ASSERT_GE(zeroed, 2u);
    ASSERT_TRUE(moved) << "no data frame's entry right after its device write";
    ASSERT_EQ(run({"cp", "-r", rec, tmp.file("unplaced")}, kLimit).exit_status, 0);
    rewrite_log(tmp.file("unplaced"), events);
    const RunResult u = run({emulator(), "-replay", tmp.file("unplaced"), "-panda",
                             "taint2:manual=on,no_tp=on,out=" + tmp.file("answers2") + ";tainted_net:port=" +
                                 std::to_string(server.port())},
                            kLimit);
    ASSERT_EQ(u.exit_status, 0) << u.err;
    EXPECT_EQ(only_line(u.err, "tainted_net: "), only_line(p.err, "tainted_net: "));
    EXPECT_TRUE(read_file(tmp.file("answers2")) == read_file(tmp.file("answers")));
    EXPECT_EQ(hex_pcs.size(), 1u);
}

}  // namespace
