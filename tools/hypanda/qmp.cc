// The QMP client (qmp.h). Each wait runs the io_context for at most its
// limit: an operation still pending then is cancelled and reported.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "qmp.h"

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <istream>

namespace hypanda::cli {

namespace asio = boost::asio;

namespace {

// Runs `io` until the operation started just before completes or `limit`
// passes; returns false on time-out (after cancelling it).
bool run_for(asio::io_context& io, asio::local::stream_protocol::socket& socket, const bool& done,
             std::chrono::milliseconds limit) {
    io.restart();
    io.run_for(limit);
    if (done) {
        return true;
    }
    socket.cancel();
    io.restart();
    io.run();  // lets the cancelled handler finish
    return false;
}

}  // namespace

std::unique_ptr<Qmp> Qmp::connect(const std::string& path, std::chrono::milliseconds limit, std::string* err) {
    std::unique_ptr<Qmp> q(new Qmp(path));
    boost::system::error_code ec;
    q->socket_.connect(asio::local::stream_protocol::endpoint(path), ec);
    if (ec) {
        *err = "QMP socket " + path + ": cannot connect: " + ec.message() +
               (ec == asio::error::connection_refused || ec == boost::system::errc::no_such_file_or_directory
                    ? " (has the guest ended?)"
                    : "");
        return nullptr;
    }
    json greeting;
    if (!q->read_message(limit, &greeting, err)) {
        return nullptr;
    }
    if (!greeting.contains("QMP")) {
        *err = "QMP socket " + path + ": no QMP greeting";
        return nullptr;
    }
    json ignored;
    if (!q->execute("qmp_capabilities", json::object(), &ignored, err, limit)) {
        return nullptr;
    }
    return q;
}

bool Qmp::read_message(std::chrono::milliseconds limit, json* msg, std::string* err) {
    boost::system::error_code ec;
    bool done = false;
    asio::async_read_until(socket_, in_, '\n', [&](const boost::system::error_code& e, size_t) {
        ec = e;
        done = true;
    });
    if (!run_for(io_, socket_, done, limit)) {
        *err = "QMP socket " + path_ + ": no answer within " + std::to_string(limit.count() / 1000) + " s";
        return false;
    }
    if (ec) {
        *err = "QMP socket " + path_ + ": " +
               (ec == asio::error::eof ? std::string("the emulator closed the connection") : ec.message());
        return false;
    }
    std::istream in(&in_);
    std::string line;
    std::getline(in, line);
    *msg = json::parse(line, nullptr, false);
    if (msg->is_discarded() || !msg->is_object()) {
        *err = "QMP socket " + path_ + ": not a JSON object: " + line;
        return false;
    }
    return true;
}

bool Qmp::execute(const std::string& command, const json& args, json* ret, std::string* err,
                  std::chrono::milliseconds limit) {
    const unsigned id = next_id_++;
    json request = {{"execute", command}, {"id", id}};
    if (!args.empty()) {
        request["arguments"] = args;
    }
    const std::string text = request.dump() + "\n";
    boost::system::error_code ec;
    asio::write(socket_, asio::buffer(text), ec);
    if (ec) {
        *err = "QMP socket " + path_ + ": cannot send " + command + ": " + ec.message();
        return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        json msg;
        if (!read_message(std::max(left, std::chrono::milliseconds(1)), &msg, err)) {
            return false;
        }
        if (msg.contains("event") || !msg.contains("id") || msg["id"] != id) {
            continue;  // an event, or an answer to somebody else's request
        }
        if (msg.contains("error")) {
            *err = msg["error"].value("desc", std::string("error without a description"));
            return false;
        }
        *ret = msg.value("return", json::object());
        return true;
    }
}

}  // namespace hypanda::cli
