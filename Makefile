# Poky - build, test, lint, install.
#
#   make            build every binary into build/
#   make test       install missing packages, build with ASan+UBSan, run all tests
#   make asan       the ASan+UBSan build alone, in build/asan/
#   make lint       cppcheck + clang-tidy; any warning fails
#   make bench      benchmarks, each figure beside a baseline from the same run
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (fuzz-regress: the corpora once)
#   make run        build and serve config/pokyd.local.ini (local tasks, no AWS)
#   make image      the worker and pokyd container images (podman, or docker)
#   make deps       install missing Debian packages (as root), or print the command
#   make install    PREFIX=/usr/local DESTDIR=

VERSION := $(shell cat VERSION)
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
# Packaged location under /usr, the administrator's under /usr/local.
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/systemd/system,$(SYSCONFDIR)/systemd/system)
DOCDIR  ?= $(PREFIX)/share/doc/poky
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR ?=

# SAN=1 selects the sanitizer build; it lives in its own directory so the two
# builds never mix objects.
SAN ?= 0
ifeq ($(SAN),1)
BUILD   ?= build/asan
OPT     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDSAN   := -fsanitize=address,undefined
else
BUILD   ?= build
OPT     := -O2 -g
LDSAN   :=
endif

CC      ?= cc
PKGS    := openssl libcurl jansson expat
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla -Wno-missing-field-initializers
CPPFLAGS += -Iinclude -D_GNU_SOURCE -DPOKY_VERSION='"$(VERSION)"'
CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
           -fPIE $(PKG_CFLAGS) -MMD -MP
ifeq ($(SAN),1)
CFLAGS  := $(filter-out -D_FORTIFY_SOURCE=2,$(CFLAGS))
endif
LDFLAGS += -pie -Wl,-z,relro,-z,now $(LDSAN)
LDLIBS  += $(PKG_LIBS) -lpthread

LIB_SRC := $(wildcard src/common/*.c) $(wildcard src/aws/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB     := $(BUILD)/libpoky.a

BINS    := $(BUILD)/pokyd $(BUILD)/poky-sign $(if $(wildcard src/worker/*.c),$(BUILD)/poky-worker) \
           $(BUILD)/poky

DAEMON_SRC := $(wildcard src/daemon/*.c)
# Everything but main(): unit tests link it to call handlers directly.
DAEMON_LIB := $(BUILD)/libpokyd.a
DAEMON_LIB_OBJ := $(filter-out %/main.o,$(DAEMON_SRC:%.c=$(BUILD)/obj/%.o)) \
                  $(BUILD)/obj/openapi.o $(BUILD)/obj/ui_files.o
DAEMON_PKGS := libmicrohttpd sqlite3 libsystemd
DAEMON_CFLAGS := $(shell pkg-config --cflags $(DAEMON_PKGS) 2>/dev/null) -I/usr/include/iniparser
DAEMON_LIBS := $(shell pkg-config --libs $(DAEMON_PKGS) 2>/dev/null) -liniparser

# poky, the command line client: libpoky (httpc) and jansson only.
CLI_SRC := $(wildcard src/cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)

WORKER_SRC := $(wildcard src/worker/*.c)
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/obj/%.o)

UNIT_SRC  := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
UNIT_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

BENCH_BINS := $(BUILD)/bench/bench_sigv4

# Test-only programs that drive the library from pytest.
TOOL_SRC  := $(wildcard test/tools/*.c)
TOOL_BINS := $(TOOL_SRC:test/tools/%.c=$(BUILD)/test-tools/%)

# Debian packages, by what needs them.
DEPS_BUILD := gcc make pkg-config libssl-dev libcurl4-openssl-dev libjansson-dev libexpat1-dev \
              libmicrohttpd-dev libsqlite3-dev libsystemd-dev libiniparser-dev
DEPS_TEST  := $(DEPS_BUILD) libcmocka-dev python3 python3-pytest python3-botocore \
              python3-jsonschema python3-prometheus-client systemd openssl chromium \
              podman buildah runc debootstrap git rsync sqlite3 curl iproute2 \
              mandoc podman-compose
DEPS_LINT  := $(DEPS_BUILD) cppcheck clang-tidy

.PHONY: all asan test unit integration lint bench deps deps-build deps-test \
        deps-lint deps-npm run image install uninstall clean
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BINS)

asan:
	@$(MAKE) --no-print-directory SAN=1 all

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/test/unit/%.o: test/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DAEMON_CFLAGS) -c -o $@ $<

$(BUILD)/obj/src/daemon/%.o: src/daemon/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DAEMON_CFLAGS) -c -o $@ $<

# The OpenAPI document is compiled in as a NUL-terminated string.
$(BUILD)/obj/openapi.c: src/daemon/openapi.json
	@mkdir -p $(dir $@)
	@{ echo 'const char poky_openapi_json[] = {'; \
	   od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '0x00};'; } > $@

$(BUILD)/obj/openapi.o: $(BUILD)/obj/openapi.c
	$(CC) -c -o $@ $<

# The web console's files (src/daemon/ui/) are compiled in the same way, as
# the table of include/poky/ui.h: name, content type by extension, an ETag
# from the content's hash.  An extension without a type stops the build.
UI_FILES := $(sort $(wildcard src/daemon/ui/*))
$(BUILD)/obj/ui_files.c: $(UI_FILES) Makefile
	@mkdir -p $(dir $@)
	@set -e; { echo '#include "poky/ui.h"'; i=0; \
	   for f in $(UI_FILES); do \
	     echo "static const char ui_$$i[] = {"; \
	     od -An -v -tx1 $$f | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	     echo '0x00};'; i=$$((i + 1)); \
	   done; \
	   echo 'const struct ui_file ui_files[] = {'; i=0; \
	   for f in $(UI_FILES); do \
	     case $$f in \
	     *.html) ct='text/html; charset=utf-8';; \
	     *.js) ct='text/javascript; charset=utf-8';; \
	     *.css) ct='text/css; charset=utf-8';; \
	     *.svg) ct='image/svg+xml';; \
	     *) echo "$$f: no content type for this extension" >&2; exit 1;; \
	     esac; \
	     tag=$$(sha256sum < $$f | cut -c1-20); \
	     echo "{ \"$$(basename $$f)\", \"$$ct\", \"\\\"$$tag\\\"\", ui_$$i, sizeof(ui_$$i) - 1 },"; \
	     i=$$((i + 1)); \
	   done; \
	   echo '{ 0, 0, 0, 0, 0 } };'; } > $@.tmp; mv $@.tmp $@

$(BUILD)/obj/ui_files.o: $(BUILD)/obj/ui_files.c
	$(CC) $(CPPFLAGS) $(DAEMON_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(DAEMON_LIB): $(DAEMON_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/pokyd: $(BUILD)/obj/src/daemon/main.o $(DAEMON_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS) $(LDLIBS)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/poky-sign: $(BUILD)/obj/src/tools/poky-sign.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/poky: $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/poky-worker: $(WORKER_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test/%: $(BUILD)/obj/test/unit/%.o $(DAEMON_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(UNIT_LIBS) $(DAEMON_LIBS) $(LDLIBS)

# ---- test tools
$(BUILD)/test-tools/%: $(BUILD)/obj/test/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/test/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests ------------------------------------------------------------------
# `make test` is what CI runs: the ASan+UBSan build under every test.

test: deps-test
	@$(MAKE) --no-print-directory SAN=1 unit-bins tool-bins all
	@# npm tools (OpenAPI linter) into test/node_modules; the test falls back to npx.
	@sh test/npm-tools.sh >/dev/null 2>&1 || echo "note: test/npm-tools.sh failed; using npx"
	@POKY_BUILD_DIR=$(CURDIR)/build/asan /usr/bin/python3 test/run_tests.py \
	    --unit-dir build/asan/test $(TEST_ARGS)

.PHONY: unit-bins tool-bins
unit-bins: $(UNIT_BINS)
tool-bins: $(TOOL_BINS)

# ---- the embedded default -------------------------------------------------------
# Local launcher, buckets as folders under var/buckets, the original Poky's
# sample in place.  Foreground; Ctrl-C stops it.

# run, test and bench install packages first, then build in a second make: this
# one computed the pkg-config flags when it read the Makefile, before the -dev
# packages were there (empty flags: a fresh machine's first build fails to link),
# and a prerequisite list would build in parallel with apt-get under -j.
run: deps-build
	@$(MAKE) --no-print-directory all
	@mkdir -p var/buckets/test-poky-input var/buckets/test-poky-output
	@[ -f var/buckets/test-poky-input/test_file.txt ] || \
	    printf 'Poky test file: copy me to the output bucket.\n' \
	    > var/buckets/test-poky-input/test_file.txt
	@echo "pokyd: serving config/pokyd.local.ini on http://127.0.0.1:8080 (Ctrl-C stops)"
	exec $(BUILD)/pokyd -c config/pokyd.local.ini

# ---- container images ---------------------------------------------------------
# poky-worker:$(IMAGE_TAG) and pokyd:$(IMAGE_TAG) from docker/Dockerfile.*.
# Default podman: no Docker engine or registry needed (test/images.sh makes a
# local base, localhost/poky-base:bookworm, with debootstrap, once).
# IMAGE_BUILDER=docker uses docker build (the Dockerfiles' default base,
# debian:bookworm-slim from Docker Hub).  Both set the OCI labels.
IMAGE_TAG     ?= $(VERSION)
IMAGE_BUILDER ?= podman
IMAGE_LABELS   = --build-arg VERSION=$(VERSION) \
    --build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
    --build-arg CREATED=$$(git log -1 --format=%cI 2>/dev/null || echo unknown)

image:
ifeq ($(IMAGE_BUILDER),docker)
	docker build $(IMAGE_LABELS) -f docker/Dockerfile.worker -t poky-worker:$(IMAGE_TAG) .
	docker build $(IMAGE_LABELS) -f docker/Dockerfile.pokyd -t pokyd:$(IMAGE_TAG) .
else
	IMAGE_TAG=$(IMAGE_TAG) test/images.sh
endif

# ---- lint -------------------------------------------------------------------

LINT_SRC := $(LIB_SRC) $(wildcard src/tools/*.c) $(WORKER_SRC) $(DAEMON_SRC) $(CLI_SRC)

lint: deps-lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --std=c11 --inline-suppr --library=.ci/cppcheck-jansson.cfg -D__GNUC__ -DPOKY_VERSION='"lint"' \
	    --suppress=missingIncludeSystem -Iinclude $(LINT_SRC)
	clang-tidy --quiet --warnings-as-errors='*' $(LINT_SRC) -- \
	    $(CPPFLAGS) -std=c11 $(PKG_CFLAGS) $(DAEMON_CFLAGS)

# ---- bench ------------------------------------------------------------------

bench: deps-test
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@/usr/bin/python3 test/bench/run_bench.py --build $(BUILD)

# ---- packages ---------------------------------------------------------------
# Installs only what is missing; as a non-root user it prints the command.

define install_missing
	@missing=""; for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	        || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" -ne 0 ]; then \
	        echo "missing packages:$$missing"; \
	        echo "run: sudo apt-get install -y --no-install-recommends$$missing"; \
	        exit 1; \
	    fi; \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q --no-install-recommends $$missing >/dev/null \
	      || { apt-get update -q >/dev/null && \
	           apt-get install -y -q --no-install-recommends $$missing >/dev/null; } \
	      || { echo "apt-get install failed for:$$missing"; exit 1; }; \
	fi
endef

deps:
	$(call install_missing,$(sort $(DEPS_TEST) $(DEPS_LINT)))

deps-build:
	$(call install_missing,$(DEPS_BUILD))

deps-test:
	$(call install_missing,$(DEPS_TEST))
	@# npm runs newman and the OpenAPI linter; some Node.js builds ship it
	@# inside their nodejs package, Debian's as a package of its own.
	@command -v npm >/dev/null || { $(MAKE) --no-print-directory deps-npm; }

deps-npm:
	$(call install_missing,nodejs npm)

deps-lint:
	$(call install_missing,$(DEPS_LINT))

# ---- install ----------------------------------------------------------------

# Existing files in /etc are never overwritten.  pokyd.ini is 0644: the unit's
# dynamic user reads it, and it holds no secret; the secrets (webhook_secret,
# the tokens from pokyd --init, AWS keys in /etc/default/pokyd) are root's 0600
# files that systemd hands over (LoadCredential=, EnvironmentFile=).
ETC := $(DESTDIR)$(SYSCONFDIR)
install: all
	install -d $(DESTDIR)$(BINDIR) $(ETC)/poky $(ETC)/default $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/etc/|$(SYSCONFDIR)/|g' config/pokyd.service \
	    > $(DESTDIR)$(UNITDIR)/pokyd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/pokyd.service
	[ -e $(ETC)/poky/pokyd.ini ] || install -m 0644 config/pokyd.ini $(ETC)/poky/pokyd.ini
	@# Earlier installs made it 0640 root, which the unit's user cannot read.
	@[ -n "$$(find $(ETC)/poky/pokyd.ini -perm -0004)" ] || echo "note:" \
	    "$(ETC)/poky/pokyd.ini is not readable by others, so not by pokyd.service's" \
	    "dynamic user: chmod 0644 it (secrets go in /etc/poky/webhook_secret," \
	    "/etc/poky/tokens and /etc/default/pokyd, root's 0600 files)"
	[ -e $(ETC)/poky/webhook_secret ] || install -m 0600 /dev/null $(ETC)/poky/webhook_secret
	[ -e $(ETC)/default/pokyd ] || install -m 0600 config/pokyd.default $(ETC)/default/pokyd
	install -m 0644 README.md LICENSE $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 docs/man/poky-worker.1 docs/man/poky-sign.1 docs/man/poky.1 \
	    $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 docs/man/pokyd.ini.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 docs/man/pokyd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 config/poky.bash-completion $(DESTDIR)$(BASHCOMPDIR)/poky

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(BINS))) \
	    $(DESTDIR)$(UNITDIR)/pokyd.service
	rm -f $(DESTDIR)$(MANDIR)/man1/poky.1 $(DESTDIR)$(BASHCOMPDIR)/poky
	rm -rf $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(MANDIR)/man1/poky-worker.1 $(DESTDIR)$(MANDIR)/man1/poky-sign.1 \
	    $(DESTDIR)$(MANDIR)/man5/pokyd.ini.5 $(DESTDIR)$(MANDIR)/man8/pokyd.8

clean:
	rm -rf build

# Optional: container builds copy no test/ into their context.
-include test/fuzz/fuzz.mk

-include $(shell find build -name '*.d' 2>/dev/null)
