// What `hypanda switch|record|plugins|stop` act on: a guest `hypanda run`
// started (its run folder: QMP on its socket) or a libvirt domain (QMP
// through libvirt's own monitor connection). Both take the same QMP
// commands, so each subcommand is written once.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <libvirt/libvirt.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace hypanda::cli {

using nlohmann::json;

// A libvirt connection; errors are libvirt's last message, one line.
// The error a domain's QMP command gets when the domain does not run.
constexpr const char* kNotRunning = "not running";

class Libvirt {
public:
    // `uri` as virsh's -c takes it; "" is libvirt's default.
    [[nodiscard]] static std::unique_ptr<Libvirt> open(const std::string& uri, std::string* err);
    ~Libvirt();
    Libvirt(const Libvirt&) = delete;
    Libvirt& operator=(const Libvirt&) = delete;

    [[nodiscard]] bool define(const std::string& xml, std::string* err);
    // The domain's XML: the running definition when it runs, else the
    // persistent one.
    [[nodiscard]] bool domain_xml(const std::string& name, std::string* xml, std::string* err);
    // Sends one QMP request (JSON text) to a running domain; *reply is the
    // whole answer. *err is kNotRunning when the domain does not run, else
    // libvirt's message (without the domain's name).
    [[nodiscard]] bool monitor(const std::string& name, const std::string& request, std::string* reply,
                               std::string* err);
    [[nodiscard]] bool destroy(const std::string& name, std::string* err);
    // Starts a defined domain (virsh start), paused or not.
    [[nodiscard]] bool start(const std::string& name, bool paused, std::string* err);
    [[nodiscard]] bool resume(const std::string& name, std::string* err);

private:
    explicit Libvirt(virConnectPtr conn) : conn_(conn) {}
    [[nodiscard]] virDomainPtr lookup(const std::string& name, std::string* err);
    // Runs a libvirt call that takes only the domain (destroy, resume).
    [[nodiscard]] bool act(const std::string& name, int (*op)(virDomainPtr), std::string* err);
    virConnectPtr conn_;
};

class Target {
public:
    virtual ~Target() = default;
    // Runs a QMP command; *ret is its "return", err its error's "desc".
    [[nodiscard]] virtual bool execute(const std::string& command, const json& args, json* ret, std::string* err) = 0;
    // Ends the guest: `quit` for a run, destroy for a domain.
    [[nodiscard]] virtual bool stop(std::string* err) = 0;
    // Lets a paused guest run: `cont` for a run; for a domain libvirt's
    // resume, so libvirt's idea of its state stays true.
    [[nodiscard]] virtual bool resume(std::string* err) = 0;
    // Where a recording's relative name goes ("" : nowhere; give a path).
    [[nodiscard]] virtual std::string recordings_dir() const = 0;
    // "run folder DIR" or "domain 'NAME'", for messages.
    [[nodiscard]] virtual std::string describe() const = 0;
};

// A run folder is a folder `hypanda run` made (it holds command-line); a
// name with a '/' must be one; anything else is a domain name for libvirt
// at `uri`.
[[nodiscard]] bool is_run_folder(const std::string& name);
[[nodiscard]] std::unique_ptr<Target> open_target(const std::string& name, const std::string& uri, std::string* err);

}  // namespace hypanda::cli
