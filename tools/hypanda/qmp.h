// A QMP client over a Unix socket, on Boost.Asio: the greeting, capability
// negotiation, and commands with their replies (events in between are
// skipped), each wait bounded in time. `hypanda` uses it for the emulators `hypanda run` starts.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/streambuf.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace hypanda::cli {

using nlohmann::json;

class Qmp {
public:
    // Connects to the socket at `path`, reads the greeting and enters
    // command mode. Fails with a line naming the socket.
    [[nodiscard]] static std::unique_ptr<Qmp> connect(const std::string& path, std::chrono::milliseconds limit,
                                                      std::string* err);

    // Runs `command`; on success *ret is the reply's "return". A QMP error
    // fails with its "desc"; so does a lost connection or a time-out.
    [[nodiscard]] bool execute(const std::string& command, const json& args, json* ret, std::string* err,
                               std::chrono::milliseconds limit = std::chrono::seconds(60));

private:
    explicit Qmp(std::string path) : path_(std::move(path)), socket_(io_) {}
    // The next message from the emulator, within `limit`.
    [[nodiscard]] bool read_message(std::chrono::milliseconds limit, json* msg, std::string* err);

    std::string path_;
    boost::asio::io_context io_;
    boost::asio::local::stream_protocol::socket socket_;
    boost::asio::streambuf in_;
    unsigned next_id_ = 1;
};

}  // namespace hypanda::cli
