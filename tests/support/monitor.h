// Clients for the emulator's monitors on a Unix socket, for the tests: HMP
// (text, one command at a time, up to the next prompt) and QMP (JSON, with
// nlohmann-json).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hypanda::test {

class SocketConnection {
public:
    // Connects to `path`, waiting up to `limit` for the socket to appear.
    SocketConnection(const std::string& path, std::chrono::seconds limit);
    ~SocketConnection();
    SocketConnection(const SocketConnection&) = delete;
    SocketConnection& operator=(const SocketConnection&) = delete;

    bool connected() const { return fd_ >= 0; }
    void send(const std::string& text);
    // Reads until the buffered text contains `marker`; returns everything up
    // to and including it, or "" after `limit` (or on EOF).
    std::string read_until(const std::string& marker, std::chrono::seconds limit);

private:
    int fd_ = -1;
    std::string buffer_;
};

class Hmp {
public:
    explicit Hmp(const std::string& socket_path);
    bool connected() const { return conn_.connected(); }
    // Runs one command and returns its output (without the prompt).
    std::string command(const std::string& line);

private:
    SocketConnection conn_;
};

class Qmp {
public:
    explicit Qmp(const std::string& socket_path);  // reads the greeting, negotiates
    bool connected() const { return ok_; }
    // Sends {"execute": name, "arguments": args} and returns the reply
    // object ({"return": ...} or {"error": ...}), skipping events.
    nlohmann::json execute(const std::string& name, const nlohmann::json& args = nullptr);
    // The events skipped so far, oldest first; the list is then emptied.
    std::vector<nlohmann::json> take_events();

private:
    nlohmann::json next_reply();
    SocketConnection conn_;
    bool ok_ = false;
    std::vector<nlohmann::json> events_;
};

}  // namespace hypanda::test
