// Monitor clients for the tests (see monitor.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "monitor.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace hypanda::test {

SocketConnection::SocketConnection(const std::string& path, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    while (std::chrono::steady_clock::now() < deadline) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            fd_ = fd;
            return;
        }
        if (fd >= 0) {
            close(fd);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

SocketConnection::~SocketConnection() {
    if (fd_ >= 0) {
        close(fd_);
    }
}

void SocketConnection::send(const std::string& text) {
    size_t done = 0;
    while (fd_ >= 0 && done < text.size()) {
        ssize_t n = write(fd_, text.data() + done, text.size() - done);
        if (n <= 0) {
            return;
        }
        done += static_cast<size_t>(n);
    }
}

std::string SocketConnection::read_until(const std::string& marker, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        size_t at = buffer_.find(marker);
        if (at != std::string::npos) {
            std::string out = buffer_.substr(0, at + marker.size());
            buffer_.erase(0, at + marker.size());
            return out;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (fd_ < 0 || left.count() <= 0) {
            return "";
        }
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left.count())) <= 0) {
            continue;
        }
        char buf[4096];
        ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) {
            return "";
        }
        buffer_.append(buf, static_cast<size_t>(n));
    }
}

Hmp::Hmp(const std::string& socket_path) : conn_(socket_path, std::chrono::seconds(20)) {
    conn_.read_until("(qemu) ", std::chrono::seconds(20));
}

std::string Hmp::command(const std::string& line) {
    conn_.send(line + "\n");
    std::string out = conn_.read_until("(qemu) ", std::chrono::seconds(30));
    // The monitor echoes the line; drop the echo and the prompt.
    size_t first_newline = out.find('\n');
    out = first_newline == std::string::npos ? "" : out.substr(first_newline + 1);
    if (out.size() >= 7) {
        out.resize(out.size() - 7);
    }
    std::string clean;
    for (char c : out) {
        if (c != '\r') {
            clean += c;
        }
    }
    return clean;
}

Qmp::Qmp(const std::string& socket_path) : conn_(socket_path, std::chrono::seconds(20)) {
    if (!conn_.connected() || conn_.read_until("\n", std::chrono::seconds(20)).empty()) {
        return;
    }
    ok_ = execute("qmp_capabilities").contains("return");
}

nlohmann::json Qmp::next_reply() {
    for (;;) {
        std::string line = conn_.read_until("\n", std::chrono::seconds(30));
        if (line.empty()) {
            return {{"error", {{"desc", "no reply"}}}};
        }
        auto reply = nlohmann::json::parse(line, nullptr, false);
        if (reply.is_discarded()) {
            continue;
        }
        if (!reply.contains("event")) {
            return reply;
        }
        events_.push_back(reply);
    }
}

std::vector<nlohmann::json> Qmp::take_events() {
    std::vector<nlohmann::json> events;
    events.swap(events_);
    return events;
}

nlohmann::json Qmp::execute(const std::string& name, const nlohmann::json& args) {
    nlohmann::json cmd = {{"execute", name}};
    if (!args.is_null()) {
        cmd["arguments"] = args;
    }
    conn_.send(cmd.dump() + "\n");
    return next_reply();
}

}  // namespace hypanda::test
