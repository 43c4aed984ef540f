// The analysis metadata of libvirt domains (libvirt-driver/analysis.h):
// domain XML in, emulator options or one error line out, against the
// stored expectations in tests/unit/libvirt/ (NAME.xml with NAME.args, one
// option a line, or NAME.err).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "analysis.h"

namespace lv = hypanda::libvirt;

namespace {

std::string data(const std::string& name) {
    std::ifstream in(std::string(SOURCE_ROOT) + "/tests/unit/libvirt/" + name);
    EXPECT_TRUE(in.good()) << "missing test data " << name;
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string lines(const std::vector<std::string>& words) {
    std::string s;
    for (const std::string& w : words) {
        s += w + "\n";
    }
    return s;
}

}  // namespace

TEST(LibvirtMetadata, OptionsMatchTheStoredExpectations) {
    for (const char* name : {"full", "plain"}) {
        SCOPED_TRACE(name);
        lv::Domain d;
        std::string err;
        ASSERT_TRUE(lv::parse_domain(data(std::string(name) + ".xml"), std::string(name) + ".xml", &d, &err)) << err;
        EXPECT_EQ(lines(lv::emulator_options(d.analysis)), data(std::string(name) + ".args"));
    }
}

TEST(LibvirtMetadata, ReadsTheDomainAroundIt) {
    lv::Domain d;
    std::string err;
    ASSERT_TRUE(lv::parse_domain(data("full.xml"), "full.xml", &d, &err)) << err;
    EXPECT_EQ(d.name, "analysis");
    EXPECT_EQ(d.type, "kvm");
    EXPECT_EQ(d.emulator, "/opt/hypanda/bin/hypanda-system-x86_64");
    EXPECT_TRUE(d.has_analysis);
    EXPECT_TRUE(d.has_commandline);
    EXPECT_EQ(d.commandline, std::vector<std::string>{"-hybrid"});
    EXPECT_EQ(d.analysis.recordings, "/var/lib/hypanda/analysis");
    EXPECT_TRUE(lv::check_domain(d, &err)) << err;
    EXPECT_EQ(lv::plugin_folders(d.emulator),
              (std::vector<std::string>{"/opt/hypanda/bin/panda_plugins",
                                        "/opt/hypanda/bin/../lib/hypanda/panda_plugins"}));

    ASSERT_TRUE(lv::parse_domain(data("plain.xml"), "plain.xml", &d, &err)) << err;
    EXPECT_FALSE(d.has_analysis);
    EXPECT_FALSE(d.has_commandline);
}

TEST(LibvirtMetadata, BadMetadataIsOneLineNamingLineAndElement) {
    for (const char* name : {"unknown-attribute", "missing-name", "unknown-element", "relative-plugin",
                             "bad-arg-name", "arg-without-value", "bad-start", "twice", "bad-break", "bad-allow",
                             "bad-record", "relative-recordings", "foreign-child", "not-xml"}) {
        SCOPED_TRACE(name);
        lv::Domain d;
        std::string err;
        EXPECT_FALSE(lv::parse_domain(data(std::string(name) + ".xml"), std::string(name) + ".xml", &d, &err));
        EXPECT_EQ(err + "\n", data(std::string(name) + ".err"));
    }
    lv::Domain d;
    std::string err;
    EXPECT_FALSE(lv::parse_domain("<network/>", "net.xml", &d, &err));
    EXPECT_EQ(err, "net.xml: not a libvirt domain (the root element must be <domain>)");
}

TEST(LibvirtMetadata, ChecksWhatNeedsTheWholeDomain) {
    lv::Domain d;
    std::string err;
    d.name = "q";
    d.type = "qemu";
    d.analysis.hybrid = true;
    EXPECT_FALSE(lv::check_domain(d, &err));
    EXPECT_EQ(err, "domain 'q': hybrid mode needs <domain type='kvm'>; this one is type='qemu'");
    d.analysis.hybrid = false;
    d.analysis.hypercall = true;
    d.analysis.hypercall_record = "r";
    EXPECT_FALSE(lv::check_domain(d, &err));
    EXPECT_EQ(err, "domain 'q': <hypanda:hypercall record='r'> needs a <hypanda:recordings dir='...'> folder");
}

// A domain that records, with a device a recording cannot see (a vhost NIC,
// a SATA disk), is refused at start with the device named and the fix; the
// same devices in a domain that does not record are fine.
TEST(LibvirtMetadata, ARecordingDomainWithUnrecordableDevicesIsRefused) {
    auto domain = [](const std::string& devices, bool records) {
        return std::string("<domain type='qemu'><name>r</name><devices>") + devices +
               "</devices><metadata><hypanda:analysis xmlns:hypanda='" + lv::kNamespace + "'>" +
               (records ? "<hypanda:recordings dir='/var/lib/r'/>" : "") + "</hypanda:analysis></metadata></domain>";
    };
    const std::string vhost =
        "<interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/>"
        "<model type='virtio'/><driver name='vhost'/></interface>";
    const std::string sata = "<disk type='file' device='disk'><source file='/srv/a.img'/><target dev='sda' bus='sata'/></disk>";
    const std::string fine = "<interface type='user'><model type='virtio'/><driver name='qemu'/></interface>"
                             "<disk type='file' device='disk'><source file='/srv/a.img'/><target dev='vda' bus='virtio'/></disk>";
    lv::Domain d;
    std::string err;
    ASSERT_TRUE(lv::parse_domain(domain(vhost + sata, true), "r.xml", &d, &err)) << err;
    EXPECT_FALSE(lv::check_domain(d, &err));
    EXPECT_EQ(err, "domain 'r' records, but cannot be recorded: <interface> 52:54:00:aa:bb:cc with <driver "
                   "name='vhost'/>: vhost moves its frames outside the emulator; write <driver name='qemu'/>");
    ASSERT_TRUE(lv::parse_domain(domain(sata, true), "r.xml", &d, &err)) << err;
    EXPECT_FALSE(lv::check_domain(d, &err));
    EXPECT_EQ(err, "domain 'r' records, but cannot be recorded: <disk> sda on bus='sata' (AHCI): not recorded yet; "
                   "use bus='virtio' or bus='ide'");
    ASSERT_TRUE(lv::parse_domain(domain(vhost + sata, false), "r.xml", &d, &err)) << err;
    EXPECT_TRUE(lv::check_domain(d, &err)) << err;
    ASSERT_TRUE(lv::parse_domain(domain(fine, true), "r.xml", &d, &err)) << err;
    EXPECT_TRUE(lv::check_domain(d, &err)) << err;
}

// What `hypanda domain create` writes, and that it reads back the same.
TEST(LibvirtMetadata, NewDomainXmlMatchesTheStoredOneAndReadsBack) {
    lv::NewDomain nd;
    nd.name = "made";
    nd.type = "kvm";
    nd.emulator = "/opt/hypanda/bin/hypanda-system-x86_64";
    nd.kernel = "/srv/guest & co.elf";
    nd.append = "count 5";
    nd.disks = {"/srv/a.img", "/srv/b.img"};
    nd.serial_log = "/var/log/made.serial";
    nd.analysis.plugins = {{"insn_count", {{"output", "/tmp/<n>.txt"}}}, {"syscalls", {}}};
    nd.analysis.hybrid = true;
    nd.analysis.breakpoints = {0x100123};
    nd.analysis.hypercall = true;
    nd.analysis.hypercall_allow = "switch+record";
    nd.analysis.hypercall_record = "guest";
    nd.analysis.recordings = "/var/lib/hypanda/made";
    nd.analysis.emulator_args = {"-device", "isa-debug-exit,iobase=0xf4,iosize=4"};
    const std::string xml = lv::domain_xml(nd);
    EXPECT_EQ(xml, data("create.xml"));
    lv::Domain d;
    std::string err;
    ASSERT_TRUE(lv::parse_domain(xml, "made", &d, &err)) << err;
    EXPECT_EQ(d.commandline, lv::emulator_options(nd.analysis));
    EXPECT_EQ(lines(lv::emulator_options(d.analysis)), lines(lv::emulator_options(nd.analysis)));
    EXPECT_EQ(lv::analysis_xml(d.analysis), lv::analysis_xml(nd.analysis));
    EXPECT_EQ(d.emulator, nd.emulator);
}

// `hypanda domain define`: the user's XML with <qemu:commandline> made
// from the metadata, everything else kept.
TEST(LibvirtMetadata, SetCommandlineReplacesOnlyThatElement) {
    const std::string xml = data("full.xml");
    lv::Domain before;
    std::string err;
    ASSERT_TRUE(lv::parse_domain(xml, "full.xml", &before, &err)) << err;
    std::string out;
    ASSERT_TRUE(lv::set_commandline(xml, lv::emulator_options(before.analysis), &out, &err)) << err;
    lv::Domain after;
    ASSERT_TRUE(lv::parse_domain(out, "out", &after, &err)) << err;
    EXPECT_EQ(after.commandline, lv::emulator_options(before.analysis));
    EXPECT_EQ(lv::analysis_xml(after.analysis), lv::analysis_xml(before.analysis));
    EXPECT_EQ(after.emulator, before.emulator);
    EXPECT_NE(out.find("<other:note xmlns:other=\"https://example.org/notes\">not ours: ignored</other:note>"),
              std::string::npos);

    // A domain without the qemu namespace gets it declared.
    ASSERT_TRUE(lv::set_commandline("<domain type='qemu'><name>p</name></domain>", {"-S"}, &out, &err)) << err;
    EXPECT_EQ(out, "<?xml version=\"1.0\"?>\n<domain xmlns:qemu=\"http://libvirt.org/schemas/domain/qemu/1.0\" "
                   "type=\"qemu\">\n  <name>p</name>\n  <qemu:commandline>\n    <qemu:arg value=\"-S\"/>\n  "
                   "</qemu:commandline>\n</domain>\n");
    EXPECT_FALSE(lv::set_commandline("<domain>", {}, &out, &err));
    EXPECT_EQ(err, "domain XML:1: Premature end of data in tag domain line 1");
}
