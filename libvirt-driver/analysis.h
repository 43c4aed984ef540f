// An analysis domain's settings: the <hypanda:analysis> element a libvirt
// domain carries in its <metadata>, read from the domain XML, checked, and
// turned into the emulator options that go in <qemu:commandline>
// (docs/libvirt.md). Plain C++ over libxml2: the hypanda tool, the libvirt
// hook and the unit tests share it; none of it talks to libvirt.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hypanda::libvirt {

// Our XML namespace, and the prefix the tool writes it with.
inline constexpr const char* kNamespace = "https://hypanda.dev/xmlns/libvirt/analysis/1";
inline constexpr const char* kPrefix = "hypanda";
// libvirt's namespace for <qemu:commandline>.
inline constexpr const char* kQemuNamespace = "http://libvirt.org/schemas/domain/qemu/1.0";

struct PluginSetting {
    std::string name;  // "insn_count", or an absolute path to a .so
    std::vector<std::pair<std::string, std::string>> args;  // in order
};

struct Analysis {
    std::vector<PluginSetting> plugins;
    bool hybrid = false;
    std::string hybrid_start;             // "" (the emulator's default), "kvm" or "tcg"
    std::vector<uint64_t> breakpoints;    // -hybrid-break addresses
    bool hypercall = false;               // the hypanda-hypercall device
    std::string hypercall_allow;          // "" (its default), or classes joined with '+'
    std::string hypercall_record;         // recording name, relative to `recordings`
    std::string recordings;               // absolute folder, made for the emulator's user
    std::vector<std::string> emulator_args;  // passed through after ours
};

// What the tool and the hook need of a domain's XML.
struct Domain {
    std::string name;
    std::string type;      // "kvm" or "qemu"
    std::string emulator;  // <devices><emulator>, "" when absent
    bool has_analysis = false;
    Analysis analysis;
    bool has_commandline = false;
    std::vector<std::string> commandline;  // <qemu:commandline> args
    std::string dac_label;  // <seclabel model='dac'><label>, "" when absent
    // Devices a recording cannot see, each "what: why; what to write
    // instead" (vhost NICs, disks on SATA/AHCI): check_domain refuses them
    // when the analysis asks for recordings.
    std::vector<std::string> unrecordable;
};

// Reads a domain's XML. `source` names it in errors ("dom.xml", "domain
// 'x'"). Fails with one line naming the line and element at fault:
// "dom.xml:12: <hypanda:plugin>: 'name' is missing".
[[nodiscard]] bool parse_domain(const std::string& xml, const std::string& source, Domain* out,
                                std::string* err);

// The emulator options for an analysis, in a fixed order: hybrid, its
// breakpoints, the hypercall device, plugins with their arguments, then
// the pass-through arguments.
[[nodiscard]] std::vector<std::string> emulator_options(const Analysis& analysis);

// Checks what parse_domain cannot see alone: hybrid needs type='kvm'; a
// hypercall recording needs a recordings folder; a plugin's output file
// (names_output_file) is an absolute path, since libvirt runs the emulator
// in "/".
[[nodiscard]] bool check_domain(const Domain& domain, std::string* err);

// Whether a plugin argument names a file the plugin writes, by the
// conventions PANDA's plugins and ours follow: output, file, log, or a name
// ending in _file, _output, _log or _path.
[[nodiscard]] bool names_output_file(const std::string& key);

// The folders the emulator at `emulator` searches for a plugin by name, in
// order (as tcg-instrument/runtime/registry.cc does, without the
// environment: libvirt clears it).
[[nodiscard]] std::vector<std::string> plugin_folders(const std::string& emulator);

// Finds each plugin of `analysis` for the emulator at `emulator`; fails
// with the first one missing and where it looked.
[[nodiscard]] bool find_plugins(const Analysis& analysis, const std::string& emulator,
                                std::vector<std::string>* paths, std::string* err);

// The <hypanda:analysis> element for `analysis`, indented for a <metadata>.
[[nodiscard]] std::string analysis_xml(const Analysis& analysis);

// `xml` with its <qemu:commandline> replaced by `args` (and the qemu
// namespace declared). Fails only on XML libxml2 cannot read.
[[nodiscard]] bool set_commandline(const std::string& xml, const std::vector<std::string>& args, std::string* out,
                                   std::string* err);

// What `hypanda domain create` writes.
struct NewDomain {
    std::string name;
    std::string type = "qemu";
    std::string emulator;  // absolute path
    uint64_t memory_mib = 128;
    std::string kernel;
    std::string append;
    std::vector<std::string> disks;  // raw images, IDE
    std::string serial_log;          // "" : no serial port
    Analysis analysis;
};

// A whole domain definition: devices kept to what an analysis guest needs
// (no USB, no video, no balloon), our metadata and its command line.
[[nodiscard]] std::string domain_xml(const NewDomain& domain);

}  // namespace hypanda::libvirt
