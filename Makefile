# Front door to the meson build. The two commands a new user runs:
#   make demo    install what is missing (Debian packages), build, and show
#                the emulator running the test guest
#   make check   the same set-up, then every test suite
# Both are incremental: with nothing changed, QEMU is not rebuilt.

BUILD ?= build
SUITES ?=

.PHONY: all deps setup build demo check check-fast install clean

all: build

deps:
	@tools/install-deps

setup: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) >/dev/null

build: setup
	@ninja -C $(BUILD)

demo: build
	@tools/demo $(BUILD)

# SUITES="unit guest" runs only those suites.
check: build
	@meson test -C $(BUILD) --print-errorlogs $(foreach s,$(SUITES),--suite $(s)) > $(BUILD)/check.log 2>&1; \
	  status=$$?; \
	  grep -E '^ *[0-9]+/[0-9]+ ' $(BUILD)/check.log; \
	  [ $$status = 0 ] || { echo "--- failing tests' output, last 150 lines (all of it: $(BUILD)/check.log)"; \
	    sed -n '/^>>> /,/^Summary of Failures/p' $(BUILD)/check.log | tail -n 150; }; \
	  grep -ho 'kvm route: \(host\|nested\) (.*' $(BUILD)/meson-logs/testlog.txt 2>/dev/null | sort -u; \
	  tools/test-summary $(BUILD)/meson-logs/testlog.junit.xml; \
	  exit $$status

# The suites that need neither /dev/kvm nor a kernel download.
check-fast:
	@$(MAKE) --no-print-directory check SUITES="unit guest"

# meson install: the tool, emulators, firmware, plugins, SDK headers,
# panda-plugin.pc and the libvirt hook (docs/libvirt.md). PREFIX defaults
# to meson's /usr/local; DESTDIR works as usual.
install: build
	@meson install -C $(BUILD) --no-rebuild

clean:
	rm -rf $(BUILD)
