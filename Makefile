# Poky - build, test, lint, install.
#
#   make            build every binary into build/
#   make test       install missing packages, build with ASan+UBSan, run all tests
#   make asan       the ASan+UBSan build alone, in build/asan/
#   make lint       cppcheck + clang-tidy; any warning fails
#   make bench      benchmarks, each figure beside a baseline from the same run
#   make deps       install missing Debian packages (as root), or print the command
#   make install    PREFIX=/usr/local DESTDIR=

VERSION := $(shell cat VERSION)
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
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
PKGS    := openssl
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

BINS    := $(BUILD)/poky-sign

UNIT_SRC  := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
UNIT_LIBS := $(shell pkg-config --libs cmocka jansson 2>/dev/null)

BENCH_BINS := $(BUILD)/bench/bench_sigv4

# Debian packages, by what needs them.
DEPS_BUILD := gcc make pkg-config libssl-dev
DEPS_TEST  := $(DEPS_BUILD) libcmocka-dev libjansson-dev python3 python3-pytest python3-botocore
DEPS_LINT  := $(DEPS_BUILD) cppcheck clang-tidy

.PHONY: all asan test unit integration lint bench deps deps-test deps-lint \
        install uninstall clean
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BINS)

asan:
	@$(MAKE) --no-print-directory SAN=1 all

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/poky-sign: $(BUILD)/obj/src/tools/poky-sign.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test/%: $(BUILD)/obj/test/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(UNIT_LIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/test/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests ------------------------------------------------------------------
# `make test` is what CI runs: the ASan+UBSan build under every test.

test: deps-test
	@$(MAKE) --no-print-directory SAN=1 unit-bins all
	@POKY_BUILD_DIR=$(CURDIR)/build/asan /usr/bin/python3 test/run_tests.py \
	    --unit-dir build/asan/test $(TEST_ARGS)

.PHONY: unit-bins
unit-bins: $(UNIT_BINS)

# ---- lint -------------------------------------------------------------------

LINT_SRC := $(LIB_SRC) $(wildcard src/tools/*.c)

lint: deps-lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --std=c11 --inline-suppr -D__GNUC__ -DPOKY_VERSION='"lint"' \
	    --suppress=missingIncludeSystem -Iinclude $(LINT_SRC)
	clang-tidy --quiet --warnings-as-errors='*' $(LINT_SRC) -- \
	    $(CPPFLAGS) -std=c11 $(PKG_CFLAGS)

# ---- bench ------------------------------------------------------------------

bench: deps-test all $(BENCH_BINS)
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

deps-test:
	$(call install_missing,$(DEPS_TEST))

deps-lint:
	$(call install_missing,$(DEPS_LINT))

# ---- install ----------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(BINS)))

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
