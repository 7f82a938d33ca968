# tracespool: build, test, install. `make help` lists the targets.

PREFIX ?= /usr/local
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
BUILD ?= build
VERSION := 0.1.0

PKGS := libevent libevent_pthreads libcjson lmdb libcurl libsystemd \
	libprotobuf-c zlib libpcre2-8 libcrypto
PROTOC_C ?= protoc-c
CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter -Werror=implicit-function-declaration
# WERROR=1 (CI) turns every warning into an error.
WARN += $(if $(WERROR),-Werror)
# A missing package stops the build with its name, not with a later error
# about a header (scripts/deps.sh installs them; clean needs none).
ifeq ($(filter clean help deps format,$(MAKECMDGOALS)),)
PKGS_MISSING := $(shell for p in $(PKGS); do pkg-config --exists $$p || echo $$p; done)
ifneq ($(PKGS_MISSING),)
$(error pkg-config cannot find: $(PKGS_MISSING) (run make deps))
endif
endif
# valgrind's header, when installed, tells redact/ whether it runs under it.
HAVE_VALGRIND_H := $(if $(wildcard /usr/include/valgrind/valgrind.h),-DHAVE_VALGRIND_H)
CPPFLAGS += -std=gnu11 -D_GNU_SOURCE -DTS_VERSION='"$(VERSION)"' -I. $(HAVE_VALGRIND_H) \
	$(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS)) -lhttp_parser -lpthread -lm

# Every .c of a module folder is part of the library that both programs and
# the unit tests link; a folder's main.c is its program's entry point.
LIB_SRCS := $(wildcard common/*.c conf/*.c spool/*.c otlp/*.c redact/*.c \
	forwarder/*.c) \
	$(filter-out daemon/main.c,$(wildcard daemon/*.c))
# otlp/trace.proto's C is generated into $(BUILD)/otlp/ (never committed) and
# compiled into the library; -I$(BUILD) finds "otlp/trace.pb-c.h".
PB_GEN := otlp/trace.pb-c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/$(PB_GEN).o
CLI_SRCS := $(wildcard cli/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/%)
# bench/bench.c is shared by the benchmark programs, the others are one each.
BENCH_SRCS := $(filter-out bench/bench.c,$(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

PROGS := $(BUILD)/tracespoold $(if $(CLI_SRCS),$(BUILD)/tracespool)

.PHONY: all check unit integration run install deps asan check-asan \
	valgrind format lint clean help bench fuzz fuzz-run fuzz-long

all: $(PROGS) $(TOOL_BINS)

# Any object may include the generated header: it is made first.
$(BUILD)/%.o: %.c | $(BUILD)/$(PB_GEN).h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) -I$(BUILD) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c $< -o $@

# One protoc-c run makes both files (a pattern rule's targets are grouped);
# this rule serves $(BUILD) and $(FUZZ_BUILD) alike.
%/$(PB_GEN).c %/$(PB_GEN).h: otlp/trace.proto
	@mkdir -p $*
	@echo "  PROTOC  $<"
	@$(PROTOC_C) -I. --c_out=$* $<

$(BUILD)/$(PB_GEN).o: $(BUILD)/$(PB_GEN).c
	@echo "  CC      $<"
	@$(CC) -I$(BUILD) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libtracespool.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tracespoold: $(BUILD)/daemon/main.o $(BUILD)/libtracespool.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tracespool: $(CLI_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/libtracespool.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(BUILD)/libtracespool.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/%: $(BUILD)/tests/tools/%.o $(BUILD)/libtracespool.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The fake upstream serves HTTPS too (tests/integration/t_tls.sh).
$(BUILD)/tests/fake_upstream: LDLIBS += \
	$(shell pkg-config --libs libevent_openssl openssl 2>/dev/null)

$(BENCH_BINS): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/bench/bench.o \
    $(BUILD)/libtracespool.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

## check: every test: unit tests, then the integration scenarios
check: all $(UNIT_BINS)
	@BUILD=$(BUILD) tests/run.sh

## unit: only the cmocka unit tests
unit: $(UNIT_BINS)
	@BUILD=$(BUILD) tests/run.sh unit

## integration: only the scenario tests against the real daemon
integration: all
	@BUILD=$(BUILD) tests/run.sh integration

## asan: build under build/asan with AddressSanitizer and UBSan
asan:
	$(MAKE) BUILD=build/asan \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" all \
	    $(patsubst $(BUILD)/%,build/asan/%,$(UNIT_BINS))

## valgrind: the integration scenarios with the daemon under valgrind memcheck
valgrind: all
	@BUILD=$(BUILD) TS_VALGRIND=1 tests/run.sh integration

## check-asan: the whole suite against the sanitizer build
check-asan: asan
	@BUILD=build/asan TS_SANITIZER=1 \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

# Fuzzing: libFuzzer targets tests/fuzz/fuzz_*.c, built with clang under
# ASan+UBSan into $(FUZZ_BUILD), against the pure modules they exercise
# (a target for another module adds its sources to FUZZ_LIB_SRCS).
FUZZ_BUILD ?= build/fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_SRCS := $(wildcard common/*.c conf/*.c otlp/*.c redact/*.c) \
	daemon/event.c daemon/body.c daemon/jsonscan.c daemon/jsonmem.c \
	daemon/httpd.c
FUZZ_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o) \
	$(FUZZ_BUILD)/obj/$(PB_GEN).o

$(FUZZ_BUILD)/obj/%.o: %.c | $(FUZZ_BUILD)/$(PB_GEN).h
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) -I$(FUZZ_BUILD) $(CPPFLAGS) $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link $(WARN) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/obj/$(PB_GEN).o: $(FUZZ_BUILD)/$(PB_GEN).c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) -I$(FUZZ_BUILD) $(CPPFLAGS) $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libtracespool.a: $(FUZZ_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o \
    $(FUZZ_BUILD)/libtracespool.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

.SECONDARY: $(FUZZ_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
# The generated code is kept: objects' .d files name its header.
.SECONDARY: $(foreach d,$(BUILD) $(FUZZ_BUILD),$(d)/$(PB_GEN).c $(d)/$(PB_GEN).h)

## fuzz: build the libFuzzer targets (clang) into build/fuzz/
fuzz: $(FUZZ_BINS)

## fuzz-run: each fuzz target for FUZZ_SECONDS (default 60) on the seed corpus
fuzz-run: fuzz
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=1 \
	    tests/fuzz/run.sh

## fuzz-long: each target for 4 h (FUZZ_SECONDS) on FUZZ_JOBS cores (all)
fuzz-long: FUZZ_SECONDS = 14400
fuzz-long: fuzz
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) \
	    FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run.sh

## run: the daemon in the foreground on a development configuration
run: all
	@mkdir -p dev
	$(BUILD)/tracespoold -c conf/dev.conf

## bench: the benchmark set (about two minutes)
bench: all $(BENCH_BINS)
	@BUILD=$(BUILD) bench/run.sh

## install: programs, units, example configuration, man pages
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 $(BUILD)/tracespoold $(DESTDIR)$(PREFIX)/sbin/tracespoold
	$(if $(CLI_SRCS),install -m 0755 $(BUILD)/tracespool $(DESTDIR)$(PREFIX)/bin/tracespool)
	install -d $(DESTDIR)/etc/tracespool
	install -m 0644 conf/tracespoold.conf $(DESTDIR)/etc/tracespool/tracespoold.conf.example
	[ -e $(DESTDIR)/etc/tracespool/api_key ] || \
	    install -m 0600 /dev/null $(DESTDIR)/etc/tracespool/api_key
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0644 systemd/tracespoold.service systemd/tracespoold.socket \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/
	install -d $(DESTDIR)$(PREFIX)/lib/sysusers.d
	install -m 0644 systemd/tracespool.sysusers \
	    $(DESTDIR)$(PREFIX)/lib/sysusers.d/tracespool.conf
	for s in 1 5 8; do \
	    for f in docs/*.$$s; do \
	        [ -f "$$f" ] || continue; \
	        install -d $(DESTDIR)$(MANDIR)/man$$s; \
	        install -m 0644 "$$f" $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; \
	    done; \
	done

## deps: install the Debian packages the build and the tests need
deps:
	@scripts/deps.sh

## format: rewrite the sources in the project's style (.clang-format)
format:
	clang-format -i $$(git ls-files '*.c' '*.h')

## lint: style and static checks
lint:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	    --inline-suppr -I. --include=/usr/include/x86_64-linux-gnu/sys/queue.h \
	    $$(git ls-files '*.c')

clean:
	rm -rf build

help:
	@grep -E '^## ' Makefile | sed 's/^## /  make /'

-include $(LIB_OBJS:.o=.d) $(BUILD)/daemon/main.d $(CLI_SRCS:%.c=$(BUILD)/%.d) \
	$(UNIT_SRCS:%.c=$(BUILD)/%.d) $(TOOL_SRCS:%.c=$(BUILD)/%.d) \
	$(BENCH_SRCS:%.c=$(BUILD)/%.d) $(BUILD)/bench/bench.d \
	$(wildcard $(FUZZ_BUILD)/obj/*/*.d $(FUZZ_BUILD)/obj/tests/fuzz/*.d)
