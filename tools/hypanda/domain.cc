// hypanda domain create / define: libvirt domains whose <metadata> holds
// the analysis settings and whose <qemu:commandline> is made from them
// (libvirt-driver/analysis.h, docs/libvirt.md). Plugins are not looked up
// here: libvirt may be on another host (-c qemu+ssh://...); the hook looks
// them up where the emulator runs, when the domain starts.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analysis.h"
#include "commands.h"
#include "common.h"
#include "target.h"

namespace hypanda::cli {

namespace {

using nlohmann::json;


int define(const Global& g, const std::string& xml, const libvirt::Domain& d) {
    std::string err;
    std::unique_ptr<Libvirt> lv = Libvirt::open(g.uri, &err);
    if (!lv) {
        return fail(err);
    }
    if (!lv->define(xml, &err)) {
        return fail("domain '" + d.name + "': " + err);
    }
    if (g.json) {
        std::cout << json{{"domain", d.name},
                          {"type", d.type},
                          {"emulator", d.emulator},
                          {"commandline", libvirt::emulator_options(d.analysis)}}
                         .dump(2)
                  << "\n";
    } else {
        std::printf("domain '%s' defined (type %s, emulator %s); start it with 'hypanda domain start %s'\n",
                    d.name.c_str(), d.type.c_str(), d.emulator.c_str(), d.name.c_str());
    }
    return kExitOk;
}

}  // namespace

int cmd_domain_create(const Global& g, const CreateOptions& o) {
    libvirt::NewDomain nd;
    nd.name = o.name;
    nd.type = !o.type.empty() ? o.type : o.guest.hybrid ? "kvm" : "qemu";
    nd.emulator = absolute_path(!o.emulator.empty() ? o.emulator : emulator_path(g.argv0));
    nd.memory_mib = o.guest.memory_mib;
    nd.kernel = absolute_path(o.guest.kernel);
    nd.append = o.guest.append;
    for (const std::string& disk : o.guest.disks) {
        nd.disks.push_back(absolute_path(disk));
    }
    nd.serial_log = absolute_path(o.serial_log);
    std::string err;
    if (!o.recordings.empty() && o.recordings[0] != '/') {
        return fail("--recordings " + o.recordings + ": give an absolute folder (it is made on libvirt's host)");
    }
    if (!analysis_of(o.guest, o.recordings, &nd.analysis, &err)) {
        return fail(err);
    }
    const std::string xml = libvirt::domain_xml(nd);
    libvirt::Domain d;
    if (!libvirt::parse_domain(xml, "domain '" + o.name + "'", &d, &err) || !libvirt::check_domain(d, &err)) {
        return fail(err);
    }
    if (o.print) {
        std::cout << xml;
        return kExitOk;
    }
    return define(g, xml, d);
}

int cmd_domain_define(const Global& g, const std::string& file) {
    std::ifstream in(file);
    if (!in) {
        return fail(file + ": cannot read it");
    }
    std::stringstream text;
    text << in.rdbuf();
    libvirt::Domain d;
    std::string err;
    if (!libvirt::parse_domain(text.str(), file, &d, &err)) {
        return fail(err);
    }
    if (!d.has_analysis) {
        return fail(file + ": no <hypanda:analysis xmlns:hypanda='" + std::string(libvirt::kNamespace) +
                    "'> in its <metadata>; for a domain without analysis settings use 'virsh define'");
    }
    if (!libvirt::check_domain(d, &err)) {
        return fail(err);
    }
    const std::vector<std::string> want = libvirt::emulator_options(d.analysis);
    if (d.has_commandline && d.commandline != want) {
        // Not an error: after an edit of the metadata this is the point.
        std::fprintf(stderr,
                     "hypanda: note: %s: <qemu:commandline> (%zu arguments) replaced by the metadata's %zu; other "
                     "emulator options belong in <hypanda:emulator-arg>\n",
                     file.c_str(), d.commandline.size(), want.size());
    }
    std::string xml;
    if (!libvirt::set_commandline(text.str(), want, &xml, &err)) {
        return fail(err);
    }
    return define(g, xml, d);
}

int cmd_domain_start(const Global& g, const std::string& name, bool paused) {
    std::string err;
    std::unique_ptr<Libvirt> lv = Libvirt::open(g.uri, &err);
    if (!lv) {
        return fail(err);
    }
    if (!lv->start(name, paused, &err)) {
        // libvirt wraps a hook's refusal in its own long line (the hook's
        // whole command line and PATH): ours is at its end, and is enough.
        const size_t ours = err.find("hypanda: ");
        if (ours != std::string::npos) {
            std::string line = err.substr(ours);
            while (!line.empty() && (line.back() == ' ' || line.back() == '\n')) {
                line.pop_back();
            }
            std::fprintf(stderr, "%s\n", line.c_str());
            return kExitFailed;
        }
        return fail("domain '" + name + "': " + err);
    }
    if (g.json) {
        std::cout << json{{"domain", name}, {"state", paused ? "paused" : "running"}}.dump(2) << "\n";
    } else {
        std::printf("domain '%s' started%s\n", name.c_str(), paused ? ", paused ('hypanda resume' runs it)" : "");
    }
    return kExitOk;
}

}  // namespace hypanda::cli
