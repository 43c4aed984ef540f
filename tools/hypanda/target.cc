// Run folders and libvirt domains as targets of QMP commands (target.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "target.h"

#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "analysis.h"
#include "qmp.h"

namespace hypanda::cli {

namespace {

std::string last_libvirt_error() {
    const char* msg = virGetLastErrorMessage();
    std::string s = msg != nullptr ? msg : "unknown libvirt error";
    std::replace(s.begin(), s.end(), '\n', ' ');
    return s;
}

// libvirt prints every error to stderr unless told not to; ours say it once.
void quiet(void*, virErrorPtr) {}

struct DomainFree {
    void operator()(virDomainPtr d) const { virDomainFree(d); }
};

class RunTarget : public Target {
public:
    RunTarget(std::string dir, std::unique_ptr<Qmp> qmp) : dir_(std::move(dir)), qmp_(std::move(qmp)) {}
    bool execute(const std::string& command, const json& args, json* ret, std::string* err) override {
        return qmp_->execute(command, args, ret, err);
    }
    bool stop(std::string* err) override {
        json ret;
        // The emulator may close the socket before its answer is read.
        return qmp_->execute("quit", json::object(), &ret, err) ||
               err->find("closed the connection") != std::string::npos;
    }
    bool resume(std::string* err) override {
        json ret;
        return qmp_->execute("cont", json::object(), &ret, err);
    }
    std::string recordings_dir() const override { return dir_; }
    std::string describe() const override { return "run folder " + dir_; }

private:
    std::string dir_;
    std::unique_ptr<Qmp> qmp_;
};

class DomainTarget : public Target {
public:
    DomainTarget(std::string name, std::unique_ptr<Libvirt> lv, std::string recordings)
        : name_(std::move(name)), lv_(std::move(lv)), recordings_(std::move(recordings)) {}
    bool execute(const std::string& command, const json& args, json* ret, std::string* err) override {
        json request = {{"execute", command}};
        if (!args.empty()) {
            request["arguments"] = args;
        }
        std::string reply;
        if (!lv_->monitor(name_, request.dump(), &reply, err)) {
            return false;
        }
        json msg = json::parse(reply, nullptr, false);
        if (msg.is_discarded() || !msg.is_object()) {
            *err = "libvirt's answer is not a JSON object: " + reply;
            return false;
        }
        if (msg.contains("error")) {
            *err = msg["error"].value("desc", std::string("error without a description"));
            return false;
        }
        *ret = msg.value("return", json::object());
        return true;
    }
    bool stop(std::string* err) override { return lv_->destroy(name_, err); }
    bool resume(std::string* err) override { return lv_->resume(name_, err); }
    std::string recordings_dir() const override { return recordings_; }
    std::string describe() const override { return "domain '" + name_ + "'"; }

private:
    std::string name_;
    std::unique_ptr<Libvirt> lv_;
    std::string recordings_;
};

}  // namespace

std::unique_ptr<Libvirt> Libvirt::open(const std::string& uri, std::string* err) {
    virSetErrorFunc(nullptr, quiet);
    virConnectPtr conn = virConnectOpen(uri.empty() ? nullptr : uri.c_str());
    if (conn == nullptr) {
        *err = "libvirt" + (uri.empty() ? std::string() : " at " + uri) + ": " + last_libvirt_error();
        return nullptr;
    }
    return std::unique_ptr<Libvirt>(new Libvirt(conn));
}

Libvirt::~Libvirt() { virConnectClose(conn_); }

virDomainPtr Libvirt::lookup(const std::string& name, std::string* err) {
    virDomainPtr d = virDomainLookupByName(conn_, name.c_str());
    if (d == nullptr) {
        *err = "domain '" + name + "': " + last_libvirt_error();
    }
    return d;
}

bool Libvirt::define(const std::string& xml, std::string* err) {
    virDomainPtr d = virDomainDefineXML(conn_, xml.c_str());
    if (d == nullptr) {
        *err = "libvirt refused the domain: " + last_libvirt_error();
        return false;
    }
    virDomainFree(d);
    return true;
}

bool Libvirt::domain_xml(const std::string& name, std::string* xml, std::string* err) {
    std::unique_ptr<virDomain, DomainFree> d(lookup(name, err));
    if (!d) {
        return false;
    }
    char* text = virDomainGetXMLDesc(d.get(), 0);
    if (text == nullptr) {
        *err = "domain '" + name + "': " + last_libvirt_error();
        return false;
    }
    *xml = text;
    free(text);
    return true;
}

bool Libvirt::monitor(const std::string& name, const std::string& request, std::string* reply, std::string* err) {
    std::unique_ptr<virDomain, DomainFree> d(lookup(name, err));
    if (!d) {
        return false;
    }
    if (virDomainIsActive(d.get()) == 0) {
        *err = kNotRunning;
        return false;
    }
    char* result = nullptr;
    if (virDomainQemuMonitorCommand(d.get(), request.c_str(), &result, VIR_DOMAIN_QEMU_MONITOR_COMMAND_DEFAULT) != 0) {
        *err = last_libvirt_error();  // the caller names the domain
        return false;
    }
    *reply = result;
    free(result);
    return true;
}

bool Libvirt::act(const std::string& name, int (*op)(virDomainPtr), std::string* err) {
    std::unique_ptr<virDomain, DomainFree> d(lookup(name, err));
    if (!d) {
        return false;
    }
    if (op(d.get()) != 0) {
        *err = "domain '" + name + "': " + last_libvirt_error();
        return false;
    }
    return true;
}

bool Libvirt::destroy(const std::string& name, std::string* err) { return act(name, virDomainDestroy, err); }

bool Libvirt::start(const std::string& name, bool paused, std::string* err) {
    std::unique_ptr<virDomain, DomainFree> d(lookup(name, err));
    if (!d) {
        return false;
    }
    if (virDomainCreateWithFlags(d.get(), paused ? VIR_DOMAIN_START_PAUSED : 0) != 0) {
        *err = last_libvirt_error();
        return false;
    }
    return true;
}

bool Libvirt::resume(const std::string& name, std::string* err) { return act(name, virDomainResume, err); }

bool is_run_folder(const std::string& name) {
    struct stat st;
    return stat((name + "/command-line").c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::unique_ptr<Target> open_target(const std::string& name, const std::string& uri, std::string* err) {
    if (name.find('/') != std::string::npos || is_run_folder(name)) {
        struct stat st;
        if (stat((name + "/command-line").c_str(), &st) != 0 && errno == EACCES) {
            *err = "run folder " + name + ": Permission denied (a run folder is its owner's alone)";
            return nullptr;
        }
        if (!is_run_folder(name)) {
            *err = "run folder " + name + ": not one ('hypanda run' makes them)";
            return nullptr;
        }
        std::unique_ptr<Qmp> qmp = Qmp::connect(name + "/qmp.sock", std::chrono::seconds(10), err);
        if (!qmp) {
            return nullptr;
        }
        char* real = realpath(name.c_str(), nullptr);
        std::string dir = real != nullptr ? real : name;
        free(real);
        return std::make_unique<RunTarget>(dir, std::move(qmp));
    }
    std::unique_ptr<Libvirt> lv = Libvirt::open(uri, err);
    if (!lv) {
        return nullptr;
    }
    std::string xml;
    if (!lv->domain_xml(name, &xml, err)) {
        return nullptr;
    }
    libvirt::Domain d;
    if (!libvirt::parse_domain(xml, "domain '" + name + "'", &d, err)) {
        return nullptr;
    }
    return std::make_unique<DomainTarget>(name, std::move(lv), d.analysis.recordings);
}

}  // namespace hypanda::cli
