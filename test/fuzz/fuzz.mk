# test/fuzz/fuzz.mk - libFuzzer targets; included from the Makefile.
#
#   make fuzz                    build every target, fuzz each FUZZ_SECONDS (10)
#   make fuzz FUZZ_SECONDS=600   the same, longer
#   make fuzz FUZZ_TARGETS=xml   only some targets
#   make fuzz-regress            every target once over its seeds and its
#                                crash reproducers, no fuzzing: the CI check
#   make fuzz-build              build only
#
# One target per file, test/fuzz/fuzz_<name>.c.  clang-14 with libFuzzer,
# ASan and UBSan (Debian: clang-14 libclang-rt-14-dev; `make fuzz-deps`).
# The project's sources are compiled again with the fuzzing flags into
# build/fuzz/ and never mixed with the gcc objects.
#
# test/fuzz/dict/<name>.dict, when present, gives the mutator the words of
# the format (keys, field names, routes).
#
# Corpora: test/fuzz/corpus/<name>/ holds the seeds (kept small, in git) and
# is only read; what a run adds goes to build/fuzz/corpus/<name>/, which the
# next run starts from.  A crash is written to test/fuzz/crashes/<name>/
# (git-ignored) and fails the run; once fixed, move the input to
# test/fuzz/crashes-fixed/<name>/ so fuzz-regress keeps checking it.
# test/fuzz/crashes-open/<name>/ holds reproducers of reported, unfixed bugs
# (see test/fuzz/README.md).

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 10
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -g -O1 $(FUZZ_SAN) -fno-omit-frame-pointer -std=c11 \
                -Wall -Wextra -Wno-missing-field-initializers
# The Makefile's pkg-config answers when it includes this file.
FUZZ_PKG_CFLAGS := $(if $(PKG_CFLAGS)$(DAEMON_CFLAGS),$(PKG_CFLAGS) $(DAEMON_CFLAGS),\
                   $(shell pkg-config --cflags openssl libcurl jansson expat \
                       libmicrohttpd sqlite3 libsystemd 2>/dev/null))
FUZZ_CPPFLAGS := -Iinclude -I/usr/include/iniparser -D_GNU_SOURCE \
                 -DPOKY_VERSION='"fuzz"' $(FUZZ_PKG_CFLAGS)
FUZZ_LIBS    := -lcurl -ljansson -lexpat -lssl -lcrypto -lsqlite3 -liniparser \
                -lmicrohttpd -lsystemd -lpthread
# Sanitizer reports stop the run; libFuzzer's own leak check stays on.
FUZZ_ENV     := ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FUZZ_ALL     := $(patsubst test/fuzz/fuzz_%.c,%,$(wildcard test/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BINS    := $(FUZZ_ALL:%=$(FUZZ_BUILD)/fuzz_%)

# Everything but main(): a target links what it uses out of the archive.
FUZZ_LIB_SRC := $(wildcard src/common/*.c) $(wildcard src/aws/*.c) \
                $(filter-out src/daemon/main.c,$(wildcard src/daemon/*.c))
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) \
                $(FUZZ_BUILD)/obj/openapi.o $(FUZZ_BUILD)/obj/ui_files.o
FUZZ_LIB     := $(FUZZ_BUILD)/libpoky-fuzz.a

.PHONY: fuzz fuzz-build fuzz-regress fuzz-deps

fuzz-deps:
	$(call install_missing,clang-14 libclang-rt-14-dev $(DEPS_BUILD))

fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/obj/openapi.c: src/daemon/openapi.json
	@mkdir -p $(dir $@)
	@{ echo 'const char poky_openapi_json[] = {'; \
	   od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '0x00};'; } > $@

$(FUZZ_BUILD)/obj/openapi.o: $(FUZZ_BUILD)/obj/openapi.c
	$(FUZZ_CC) -c -o $@ $<

# The console's files: the table the Makefile generates, compiled here.
$(FUZZ_BUILD)/obj/ui_files.o: $(BUILD)/obj/ui_files.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/test/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(FUZZ_LIBS)

# Each target in turn, over a working corpus that starts from the seeds;
# every target runs even after one fails, and the run fails at the end.
fuzz: fuzz-build
	@failed=""; for t in $(FUZZ_TARGETS); do \
	    work=$(FUZZ_BUILD)/corpus/$$t; \
	    mkdir -p $$work test/fuzz/crashes/$$t; \
	    seeds=""; for d in test/fuzz/corpus/$$t test/fuzz/crashes-fixed/$$t ; do \
	        [ -d $$d ] && seeds="$$seeds $$d"; done; \
	    dict=""; [ -f test/fuzz/dict/$$t.dict ] && dict=-dict=test/fuzz/dict/$$t.dict; \
	    echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	    $(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 $$dict \
	        -artifact_prefix=test/fuzz/crashes/$$t/ $$work $$seeds \
	        > $(FUZZ_BUILD)/fuzz_$$t.log 2>&1; \
	    rc=$$?; \
	    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
	        $(FUZZ_BUILD)/fuzz_$$t.log | sed "s/^/  /"; \
	    if [ $$rc -ne 0 ]; then \
	        failed="$$failed $$t"; \
	        echo "  FAILED (exit $$rc): see $(FUZZ_BUILD)/fuzz_$$t.log"; \
	        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' \
	            $(FUZZ_BUILD)/fuzz_$$t.log | head -5 | sed "s/^/  /"; \
	    fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi; \
	echo "fuzz: all targets ran $(FUZZ_SECONDS) s without a crash"

# No fuzzing: every seed and every crash reproducer, once each.
fuzz-regress: fuzz-build
	@failed=""; for t in $(FUZZ_TARGETS); do \
	    files=$$(find test/fuzz/corpus/$$t test/fuzz/crashes-fixed/$$t \
	        -type f 2>/dev/null | sort); \
	    [ -n "$$files" ] || { echo "fuzz-regress $$t: no inputs"; \
	        failed="$$failed $$t"; continue; }; \
	    if $(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$$t -runs=1 $$files \
	        > $(FUZZ_BUILD)/regress_$$t.log 2>&1; then \
	        echo "fuzz-regress $$t: $$(echo "$$files" | wc -l) inputs ok"; \
	    else \
	        failed="$$failed $$t"; \
	        echo "fuzz-regress $$t: FAILED: see $(FUZZ_BUILD)/regress_$$t.log"; \
	        grep -E '^(Running:|==[0-9]+==ERROR|SUMMARY|.*runtime error)' \
	            $(FUZZ_BUILD)/regress_$$t.log | tail -4 | sed "s/^/  /"; \
	    fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz-regress: failed:$$failed"; exit 1; fi
