// Reading, checking and writing an analysis domain's XML (analysis.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "analysis.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sys/stat.h>

#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace hypanda::libvirt {
namespace {

struct DocFree {
    void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using Doc = std::unique_ptr<xmlDoc, DocFree>;

// libxml2 reports every error it meets; the first says what is wrong,
// later ones are consequences ("premature end of data").
void keep_first_error(void* first, xmlErrorPtr e) {
    auto* out = static_cast<std::pair<int, std::string>*>(first);
    if (out->second.empty() && e != nullptr && e->message != nullptr) {
        *out = {e->line, e->message};
    }
}

// Reads XML without network access and without libxml2's own printing; a
// failure is one line: "SOURCE:LINE: MESSAGE".
Doc read_xml(const std::string& xml, const std::string& source, std::string* err) {
    xmlParserCtxt* ctxt = xmlNewParserCtxt();
    if (ctxt == nullptr) {
        *err = source + ": out of memory";
        return nullptr;
    }
    std::pair<int, std::string> first;
    xmlSetStructuredErrorFunc(&first, keep_first_error);
    Doc doc(xmlCtxtReadMemory(ctxt, xml.data(), static_cast<int>(xml.size()), source.c_str(), nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
    xmlSetStructuredErrorFunc(nullptr, nullptr);
    if (!doc) {
        std::string what = first.second.empty() ? "not XML" : first.second;
        while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) {
            what.pop_back();
        }
        *err = source + ":" + std::to_string(first.first) + ": " + what;
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

std::string name_of(const xmlNode* n) { return reinterpret_cast<const char*>(n->name); }

bool in_namespace(const xmlNode* n, const char* href) {
    return n->ns != nullptr && std::strcmp(reinterpret_cast<const char*>(n->ns->href), href) == 0;
}

// Elements of ours: in our namespace, or in none inside our element.
bool ours(const xmlNode* n) { return n->ns == nullptr || in_namespace(n, kNamespace); }

// An element's name for messages: ours with our prefix, others as written.
std::string qualified(const xmlNode* n) {
    if (ours(n) || n->ns->prefix == nullptr) {
        return std::string(kPrefix) + ":" + name_of(n);
    }
    return reinterpret_cast<const char*>(n->ns->prefix) + (":" + name_of(n));
}

std::string prop(const xmlNode* n, const char* name, bool* present = nullptr) {
    xmlChar* v = xmlGetNoNsProp(n, reinterpret_cast<const xmlChar*>(name));
    if (present != nullptr) {
        *present = v != nullptr;
    }
    if (v == nullptr) {
        return "";
    }
    std::string s = reinterpret_cast<const char*>(v);
    xmlFree(v);
    return s;
}

std::string text_of(const xmlNode* n) {
    xmlChar* v = xmlNodeGetContent(n);
    std::string s = v != nullptr ? reinterpret_cast<const char*>(v) : "";
    xmlFree(v);
    const size_t a = s.find_first_not_of(" \t\r\n");
    const size_t b = s.find_last_not_of(" \t\r\n");
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

const xmlNode* child(const xmlNode* parent, const char* name) {
    for (const xmlNode* c = parent->children; c != nullptr; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && c->ns == nullptr && name_of(c) == name) {
            return c;
        }
    }
    return nullptr;
}

// Reads <hypanda:analysis>; every element and attribute is checked, so a
// misspelt one is an error rather than a setting silently not applied.
class AnalysisReader {
public:
    AnalysisReader(const std::string& source, Analysis* out) : source_(source), out_(out) {}

    bool read(const xmlNode* root) {
        if (!attributes(root, {})) {
            return false;
        }
        for (const xmlNode* n = root->children; n != nullptr; n = n->next) {
            if (n->type != XML_ELEMENT_NODE) {
                continue;
            }
            if (!ours(n)) {
                return fail(n, "an element of another namespace has no place here");
            }
            const std::string name = name_of(n);
            bool ok = false;
            if (name == "plugin") {
                ok = plugin(n);
            } else if (name == "hybrid") {
                ok = once(n, &seen_hybrid_) && hybrid(n);
            } else if (name == "break") {
                ok = breakpoint(n);
            } else if (name == "hypercall") {
                ok = once(n, &seen_hypercall_) && hypercall(n);
            } else if (name == "recordings") {
                ok = once(n, &seen_recordings_) && recordings(n);
            } else if (name == "emulator-arg") {
                std::string value;
                ok = attributes(n, {"value"}) && required(n, "value", &value);
                if (ok) {
                    out_->emulator_args.push_back(value);
                }
            } else {
                return fail(n, "unknown element; expected plugin, hybrid, break, hypercall, recordings or "
                               "emulator-arg");
            }
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    const std::string& error() const { return error_; }

private:
    bool fail(const xmlNode* n, const std::string& what) {
        error_ = source_ + ":" + std::to_string(xmlGetLineNo(n)) + ": <" + qualified(n) + ">: " + what;
        return false;
    }

    bool attributes(const xmlNode* n, std::initializer_list<const char*> allowed) {
        for (const xmlAttr* a = n->properties; a != nullptr; a = a->next) {
            bool known = false;
            for (const char* name : allowed) {
                known = known || std::strcmp(reinterpret_cast<const char*>(a->name), name) == 0;
            }
            if (!known) {
                return fail(n, std::string("unknown attribute '") + reinterpret_cast<const char*>(a->name) + "'");
            }
        }
        return true;
    }

    bool required(const xmlNode* n, const char* name, std::string* value) {
        bool present = false;
        *value = prop(n, name, &present);
        if (!present) {
            return fail(n, std::string("'") + name + "' is missing");
        }
        if (value->empty()) {
            return fail(n, std::string("'") + name + "' is empty");
        }
        return true;
    }

    bool once(const xmlNode* n, bool* seen) {
        if (*seen) {
            return fail(n, "appears twice; give it once");
        }
        *seen = true;
        return true;
    }

    bool plugin(const xmlNode* n) {
        PluginSetting p;
        if (!attributes(n, {"name"}) || !required(n, "name", &p.name)) {
            return false;
        }
        if (p.name.find('/') != std::string::npos) {
            if (p.name[0] != '/') {
                return fail(n, "'" + p.name + "' is a relative path; give a plugin's name or an absolute path");
            }
        } else if (p.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
                   std::string::npos) {
            return fail(n, "'" + p.name + "' is not a plugin name (letters, digits, '_', '-', '.')");
        }
        for (const xmlNode* a = n->children; a != nullptr; a = a->next) {
            if (a->type != XML_ELEMENT_NODE) {
                continue;
            }
            if (!ours(a) || name_of(a) != "arg") {
                return fail(a, "unknown element; a plugin holds only <" + std::string(kPrefix) + ":arg> elements");
            }
            std::string key, value;
            if (!attributes(a, {"name", "value"}) || !required(a, "name", &key)) {
                return false;
            }
            if (key.find_first_of("=,;: ") != std::string::npos) {
                return fail(a, "'" + key + "' is not an argument name (no '=', ',', ';', ':' or spaces)");
            }
            bool present = false;
            value = prop(a, "value", &present);
            if (!present) {
                return fail(a, "'value' is missing");
            }
            if (value.find('\n') != std::string::npos) {
                return fail(a, "'value' holds a line break");
            }
            p.args.emplace_back(key, value);
        }
        out_->plugins.push_back(std::move(p));
        return true;
    }

    bool hybrid(const xmlNode* n) {
        if (!attributes(n, {"start"})) {
            return false;
        }
        out_->hybrid = true;
        bool present = false;
        out_->hybrid_start = prop(n, "start", &present);
        if (present && out_->hybrid_start != "kvm" && out_->hybrid_start != "tcg") {
            return fail(n, "start='" + out_->hybrid_start + "': expected kvm or tcg");
        }
        return true;
    }

    bool breakpoint(const xmlNode* n) {
        std::string text;
        if (!attributes(n, {"address"}) || !required(n, "address", &text)) {
            return false;
        }
        errno = 0;
        char* end = nullptr;
        const unsigned long long v = std::strtoull(text.c_str(), &end, 0);
        if (errno != 0 || *end != '\0' || text[0] == '-') {
            return fail(n, "address='" + text + "' is not a guest address (0x... or decimal)");
        }
        out_->breakpoints.push_back(v);
        return true;
    }

    bool hypercall(const xmlNode* n) {
        if (!attributes(n, {"allow", "record"})) {
            return false;
        }
        out_->hypercall = true;
        bool present = false;
        out_->hypercall_allow = prop(n, "allow", &present);
        if (present) {
            std::string rest = out_->hypercall_allow + "+";
            for (size_t at = 0, plus; (plus = rest.find('+', at)) != std::string::npos; at = plus + 1) {
                const std::string cls = rest.substr(at, plus - at);
                if (cls != "switch" && cls != "record" && cls != "none") {
                    return fail(n, "allow='" + out_->hypercall_allow +
                                       "': expected switch, record or none, joined with '+'");
                }
            }
        }
        out_->hypercall_record = prop(n, "record", &present);
        if (present && (out_->hypercall_record.empty() || out_->hypercall_record.find('/') != std::string::npos ||
                        out_->hypercall_record == "." || out_->hypercall_record == "..")) {
            return fail(n, "record='" + out_->hypercall_record +
                               "': give a recording's name, made inside the recordings folder");
        }
        return true;
    }

    bool recordings(const xmlNode* n) {
        if (!attributes(n, {"dir"}) || !required(n, "dir", &out_->recordings)) {
            return false;
        }
        if (out_->recordings[0] != '/') {
            return fail(n, "dir='" + out_->recordings + "' is relative; give an absolute folder");
        }
        while (out_->recordings.size() > 1 && out_->recordings.back() == '/') {
            out_->recordings.pop_back();
        }
        return true;
    }

    const std::string& source_;
    Analysis* out_;
    std::string error_;
    bool seen_hybrid_ = false, seen_hypercall_ = false, seen_recordings_ = false;
};

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string plugin_short_name(const std::string& name) {
    std::string base = name.substr(name.rfind('/') + 1);
    if (base.size() > 3 && base.compare(base.size() - 3, 3, ".so") == 0) {
        base.resize(base.size() - 3);
    }
    if (base.compare(0, 6, "panda_") == 0 && base.size() > 6) {
        base = base.substr(6);
    }
    return base;
}

bool is_file(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

bool parse_domain(const std::string& xml, const std::string& source, Domain* out, std::string* err) {
    Doc doc = read_xml(xml, source, err);
    if (!doc) {
        return false;
    }
    const xmlNode* root = xmlDocGetRootElement(doc.get());
    if (root == nullptr || name_of(root) != "domain" || root->ns != nullptr) {
        *err = source + ": not a libvirt domain (the root element must be <domain>)";
        return false;
    }
    *out = Domain{};
    out->type = prop(root, "type");
    if (const xmlNode* n = child(root, "name")) {
        out->name = text_of(n);
    }
    if (const xmlNode* devices = child(root, "devices")) {
        if (const xmlNode* e = child(devices, "emulator")) {
            out->emulator = text_of(e);
        }
        for (const xmlNode* n = devices->children; n != nullptr; n = n->next) {
            if (n->type != XML_ELEMENT_NODE || n->ns != nullptr) {
                continue;
            }
            const std::string kind = name_of(n);
            const xmlNode* driver = child(n, "driver");
            const xmlNode* target = child(n, "target");
            const xmlNode* mac = child(n, "mac");
            const std::string which = mac != nullptr ? " " + prop(mac, "address") : "";
            if (kind == "interface" && (prop(n, "type") == "vhostuser" || prop(n, "type") == "vdpa")) {
                out->unrecordable.push_back("<interface type='" + prop(n, "type") + "'>" + which +
                                            ": its frames move outside the emulator; use type='user', 'network' "
                                            "or 'bridge' with <driver name='qemu'/>");
            } else if (kind == "interface" && driver != nullptr && prop(driver, "name") == "vhost") {
                out->unrecordable.push_back("<interface>" + which +
                                            " with <driver name='vhost'/>: vhost moves its frames outside the "
                                            "emulator; write <driver name='qemu'/>");
            } else if (kind == "disk" && target != nullptr && prop(target, "bus") == "sata") {
                out->unrecordable.push_back("<disk> " + prop(target, "dev") +
                                            " on bus='sata' (AHCI): not recorded yet; use bus='virtio' or bus='ide'");
            } else if (kind == "hostdev") {
                out->unrecordable.push_back("<hostdev>: a host device passed through writes guest RAM itself");
            }
        }
    }
    for (const xmlNode* n = root->children; n != nullptr; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (n->ns == nullptr && name_of(n) == "seclabel" && prop(n, "model") == "dac") {
            if (const xmlNode* label = child(n, "label")) {
                out->dac_label = text_of(label);
            }
        }
        if (in_namespace(n, kQemuNamespace) && name_of(n) == "commandline") {
            out->has_commandline = true;
            for (const xmlNode* a = n->children; a != nullptr; a = a->next) {
                if (a->type == XML_ELEMENT_NODE && name_of(a) == "arg") {
                    out->commandline.push_back(prop(a, "value"));
                }
            }
        }
        if (n->ns == nullptr && name_of(n) == "metadata") {
            for (const xmlNode* m = n->children; m != nullptr; m = m->next) {
                if (m->type != XML_ELEMENT_NODE || !in_namespace(m, kNamespace)) {
                    continue;
                }
                if (name_of(m) != "analysis") {
                    *err = source + ":" + std::to_string(xmlGetLineNo(m)) + ": <" + kPrefix + ":" + name_of(m) +
                           ">: unknown element; Hypanda's metadata is one <" + kPrefix + ":analysis>";
                    return false;
                }
                if (out->has_analysis) {
                    *err = source + ":" + std::to_string(xmlGetLineNo(m)) + ": <" + kPrefix +
                           ":analysis>: appears twice; give it once";
                    return false;
                }
                out->has_analysis = true;
                AnalysisReader reader(source, &out->analysis);
                if (!reader.read(m)) {
                    *err = reader.error();
                    return false;
                }
            }
        }
    }
    return true;
}

std::vector<std::string> emulator_options(const Analysis& a) {
    std::vector<std::string> args;
    if (a.hybrid) {
        args.insert(args.end(), {"-hybrid", a.hybrid_start.empty() ? "on" : "on,start=" + a.hybrid_start});
    }
    for (uint64_t addr : a.breakpoints) {
        char hex[32];
        std::snprintf(hex, sizeof hex, "0x%" PRIx64, addr);
        args.insert(args.end(), {"-hybrid-break", hex});
    }
    if (a.hypercall) {
        std::string device = "hypanda-hypercall";
        if (!a.hypercall_allow.empty()) {
            device += ",allow=" + a.hypercall_allow;
        }
        if (!a.hypercall_record.empty()) {
            device += ",record=" + a.recordings + "/" + a.hypercall_record;
        }
        args.insert(args.end(), {"-device", device});
    }
    for (const PluginSetting& p : a.plugins) {
        for (const auto& [key, value] : p.args) {
            args.insert(args.end(), {"-panda-arg", plugin_short_name(p.name) + ":" + key + "=" + value});
        }
        args.insert(args.end(), {"-panda", p.name});
    }
    args.insert(args.end(), a.emulator_args.begin(), a.emulator_args.end());
    return args;
}

bool check_domain(const Domain& d, std::string* err) {
    const std::string who = "domain '" + d.name + "'";
    if (d.analysis.hybrid && d.type != "kvm") {
        *err = who + ": hybrid mode needs <domain type='kvm'>; this one is type='" + d.type + "'";
        return false;
    }
    if (!d.analysis.hypercall_record.empty() && d.analysis.recordings.empty()) {
        *err = who + ": <" + kPrefix + ":hypercall record='" + d.analysis.hypercall_record + "'> needs a <" +
               kPrefix + ":recordings dir='...'> folder";
        return false;
    }
    // A domain that records must not have a device the recording cannot see
    // (the emulator would refuse when the recording begins; say it now).
    if (!d.unrecordable.empty() && (!d.analysis.recordings.empty() || !d.analysis.hypercall_record.empty())) {
        *err = who + " records, but cannot be recorded: " + d.unrecordable.front();
        return false;
    }
    // libvirt starts the emulator in "/": a relative file a plugin writes
    // would land there, or nowhere, and the user would never find it.
    for (const PluginSetting& p : d.analysis.plugins) {
        for (const auto& [key, value] : p.args) {
            if (names_output_file(key) && !value.empty() && value[0] != '/') {
                *err = who + ": plugin " + p.name + ": " + key + "=" + value +
                       " is relative, and libvirt runs the emulator in /; give an absolute path" +
                       (d.analysis.recordings.empty() ? std::string()
                                                      : ", such as " + d.analysis.recordings + "/" + value +
                                                            " in the recordings folder");
                return false;
            }
        }
    }
    return true;
}

bool names_output_file(const std::string& key) {
    auto ends_with = [&key](const std::string& tail) {
        return key.size() >= tail.size() && key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
    };
    return key == "output" || key == "file" || key == "log" || ends_with("_file") || ends_with("_output") ||
           ends_with("_log") || ends_with("_path");
}

std::vector<std::string> plugin_folders(const std::string& emulator) {
    const std::string dir = emulator.find('/') == std::string::npos ? "." : emulator.substr(0, emulator.rfind('/'));
    return {dir + "/panda_plugins", dir + "/../lib/hypanda/panda_plugins"};
}

bool find_plugins(const Analysis& a, const std::string& emulator, std::vector<std::string>* paths,
                  std::string* err) {
    for (const PluginSetting& p : a.plugins) {
        if (p.name[0] == '/') {
            if (!is_file(p.name)) {
                *err = "plugin '" + p.name + "': no such file";
                return false;
            }
            paths->push_back(p.name);
            continue;
        }
        const std::string file =
            p.name.size() > 3 && p.name.compare(p.name.size() - 3, 3, ".so") == 0 ? p.name : "panda_" + p.name + ".so";
        std::string looked;
        bool found = false;
        for (const std::string& dir : plugin_folders(emulator)) {
            if (is_file(dir + "/" + file)) {
                paths->push_back(dir + "/" + file);
                found = true;
                break;
            }
            looked += (looked.empty() ? "" : ", ") + dir + "/" + file;
        }
        if (!found) {
            *err = "plugin '" + p.name + "': not found; looked for " + looked;
            return false;
        }
    }
    return true;
}

std::string analysis_xml(const Analysis& a) {
    const std::string p = std::string(kPrefix) + ":";
    std::string x = "<" + p + "analysis xmlns:" + kPrefix + "=\"" + kNamespace + "\">\n";
    for (const PluginSetting& pl : a.plugins) {
        if (pl.args.empty()) {
            x += "  <" + p + "plugin name=\"" + escape(pl.name) + "\"/>\n";
            continue;
        }
        x += "  <" + p + "plugin name=\"" + escape(pl.name) + "\">\n";
        for (const auto& [key, value] : pl.args) {
            x += "    <" + p + "arg name=\"" + escape(key) + "\" value=\"" + escape(value) + "\"/>\n";
        }
        x += "  </" + p + "plugin>\n";
    }
    if (a.hybrid) {
        x += "  <" + p + "hybrid" + (a.hybrid_start.empty() ? "" : " start=\"" + a.hybrid_start + "\"") + "/>\n";
    }
    for (uint64_t addr : a.breakpoints) {
        char hex[32];
        std::snprintf(hex, sizeof hex, "0x%" PRIx64, addr);
        x += "  <" + p + "break address=\"" + hex + "\"/>\n";
    }
    if (a.hypercall) {
        x += "  <" + p + "hypercall";
        if (!a.hypercall_allow.empty()) {
            x += " allow=\"" + escape(a.hypercall_allow) + "\"";
        }
        if (!a.hypercall_record.empty()) {
            x += " record=\"" + escape(a.hypercall_record) + "\"";
        }
        x += "/>\n";
    }
    if (!a.recordings.empty()) {
        x += "  <" + p + "recordings dir=\"" + escape(a.recordings) + "\"/>\n";
    }
    for (const std::string& arg : a.emulator_args) {
        x += "  <" + p + "emulator-arg value=\"" + escape(arg) + "\"/>\n";
    }
    return x + "</" + p + "analysis>\n";
}

bool set_commandline(const std::string& xml, const std::vector<std::string>& args, std::string* out,
                     std::string* err) {
    Doc doc = read_xml(xml, "domain XML", err);
    if (!doc) {
        return false;
    }
    xmlNode* root = xmlDocGetRootElement(doc.get());
    if (root == nullptr) {
        *err = "domain XML: empty";
        return false;
    }
    for (xmlNode* n = root->children; n != nullptr;) {
        xmlNode* next = n->next;
        if (n->type == XML_ELEMENT_NODE && in_namespace(n, kQemuNamespace) && name_of(n) == "commandline") {
            xmlUnlinkNode(n);
            xmlFreeNode(n);
        }
        n = next;
    }
    const auto* href = reinterpret_cast<const xmlChar*>(kQemuNamespace);
    xmlNs* ns = xmlSearchNsByHref(doc.get(), root, href);
    if (ns == nullptr) {
        ns = xmlNewNs(root, href, reinterpret_cast<const xmlChar*>("qemu"));
    }
    if (!args.empty()) {
        xmlNode* cmd = xmlNewChild(root, ns, reinterpret_cast<const xmlChar*>("commandline"), nullptr);
        for (const std::string& a : args) {
            xmlNode* arg = xmlNewChild(cmd, ns, reinterpret_cast<const xmlChar*>("arg"), nullptr);
            xmlNewProp(arg, reinterpret_cast<const xmlChar*>("value"), reinterpret_cast<const xmlChar*>(a.c_str()));
        }
    }
    xmlChar* buf = nullptr;
    int len = 0;
    xmlDocDumpFormatMemory(doc.get(), &buf, &len, 1);
    out->assign(reinterpret_cast<const char*>(buf), len);
    xmlFree(buf);
    return true;
}

std::string domain_xml(const NewDomain& d) {
    std::string x = "<domain type=\"" + d.type + "\" xmlns:qemu=\"" + kQemuNamespace + "\">\n";
    x += "  <name>" + escape(d.name) + "</name>\n";
    x += "  <memory unit=\"MiB\">" + std::to_string(d.memory_mib) + "</memory>\n";
    x += "  <vcpu>1</vcpu>\n";
    x += "  <os>\n    <type arch=\"x86_64\" machine=\"pc\">hvm</type>\n";
    if (!d.kernel.empty()) {
        x += "    <kernel>" + escape(d.kernel) + "</kernel>\n";
        if (!d.append.empty()) {
            x += "    <cmdline>" + escape(d.append) + "</cmdline>\n";
        }
    }
    x += "  </os>\n";
    x += "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n  <on_crash>destroy</on_crash>\n";
    x += "  <devices>\n    <emulator>" + escape(d.emulator) + "</emulator>\n";
    char dev = 'a';
    for (const std::string& disk : d.disks) {
        x += "    <disk type=\"file\" device=\"disk\">\n      <driver name=\"qemu\" type=\"raw\"/>\n";
        x += "      <source file=\"" + escape(disk) + "\"/>\n";
        x += std::string("      <target dev=\"hd") + dev++ + "\" bus=\"ide\"/>\n    </disk>\n";
    }
    x += "    <controller type=\"usb\" model=\"none\"/>\n";
    if (!d.serial_log.empty()) {
        x += "    <serial type=\"file\">\n      <source path=\"" + escape(d.serial_log) +
             "\"/>\n      <target port=\"0\"/>\n    </serial>\n";
    }
    x += "    <video>\n      <model type=\"none\"/>\n    </video>\n";
    x += "    <memballoon model=\"none\"/>\n  </devices>\n";
    std::string meta = analysis_xml(d.analysis);
    x += "  <metadata>\n";
    for (size_t at = 0; at < meta.size();) {
        const size_t nl = meta.find('\n', at);
        x += "    " + meta.substr(at, nl - at + 1);
        at = nl + 1;
    }
    x += "  </metadata>\n";
    const std::vector<std::string> args = emulator_options(d.analysis);
    if (!args.empty()) {
        x += "  <qemu:commandline>\n";
        for (const std::string& a : args) {
            x += "    <qemu:arg value=\"" + escape(a) + "\"/>\n";
        }
        x += "  </qemu:commandline>\n";
    }
    return x + "</domain>\n";
}

}  // namespace hypanda::libvirt
