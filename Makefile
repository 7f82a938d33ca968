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

# One archive per layer, from explicit source lists. The layers, low to
# high: common < conf, spool, otlp < redact < forwarder < daemon; cli may
# use any but daemon (scripts/layers.sh checks the includes, STYLE.md says
# why). A new source file goes into its layer's list; one that is in none
# stops the build.
COMMON_SRCS := common/buf.c common/clock.c common/jsonscan.c common/kind.c \
	common/log.c common/uuid.c
CONF_SRCS := conf/conf.c
SPOOL_SRCS := spool/spool.c spool/deadjson.c
# otlp/trace.proto's C is generated into $(BUILD)/otlp/ (never committed)
# and is part of the otlp layer; -I$(BUILD) finds "otlp/trace.pb-c.h".
OTLP_SRCS := otlp/inflate.c otlp/json.c otlp/otlp.c otlp/pb.c otlp/pbjson.c \
	otlp/utf8.c
PB_GEN := otlp/trace.pb-c
REDACT_SRCS := redact/apply.c redact/detect.c redact/pbwalk.c redact/redact.c \
	redact/splice.c redact/walk.c
FORWARDER_SRCS := forwarder/aimd.c forwarder/bucket.c forwarder/forwarder.c \
	forwarder/pace.c forwarder/upstream.c forwarder/window.c
# daemon/main.c is tracespoold's entry point, outside the archive.
DAEMON_SRCS := daemon/admin.c daemon/body.c daemon/commit.c daemon/event.c daemon/httpd.c \
	daemon/ingest.c daemon/jsonmem.c daemon/listen.c \
	daemon/rules.c daemon/stats.c
LAYERS := common conf spool otlp redact forwarder daemon
LAYER_SRCS := $(COMMON_SRCS) $(CONF_SRCS) $(SPOOL_SRCS) $(OTLP_SRCS) \
	$(REDACT_SRCS) $(FORWARDER_SRCS) $(DAEMON_SRCS)
UNLISTED := $(filter-out $(LAYER_SRCS) daemon/main.c, \
	$(wildcard $(addsuffix /*.c,$(LAYERS))))
ifneq ($(UNLISTED),)
$(error not in any layer's source list in the Makefile: $(UNLISTED))
endif

# The archives a layer's code links with, its own first: each layer and
# the layers it may use, in link order.
USES_common := common
USES_conf := conf common
USES_spool := spool common
USES_otlp := otlp common
USES_redact := redact conf spool otlp common
USES_forwarder := forwarder $(USES_redact)
USES_daemon := daemon $(USES_forwarder)
# The command-line tool: never the daemon's archive.
USES_cli := redact spool otlp common
# archives LAYER: the archive files LAYER's code links with.
archives = $(foreach l,$(USES_$(1)),$(BUILD)/lib/$(l).a)

OBJS_common := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
OBJS_conf := $(CONF_SRCS:%.c=$(BUILD)/%.o)
OBJS_spool := $(SPOOL_SRCS:%.c=$(BUILD)/%.o)
OBJS_otlp := $(OTLP_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/$(PB_GEN).o
OBJS_redact := $(REDACT_SRCS:%.c=$(BUILD)/%.o)
OBJS_forwarder := $(FORWARDER_SRCS:%.c=$(BUILD)/%.o)
OBJS_daemon := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(foreach l,$(LAYERS),$(OBJS_$(l)))
CLI_SRCS := $(wildcard cli/*.c)
# tests/support: what the C tests, tools and benchmarks share (the CHECK
# macro, socket helpers, clocks, latency histograms).
SUPPORT_SRCS := $(wildcard tests/support/*.c)
SUPPORT_OBJS := $(SUPPORT_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# The layer a unit test exercises: it links that layer's archives. A test
# not named here is linked like the daemon.
UNIT_LAYER_buf := common
UNIT_LAYER_uuid := common
UNIT_LAYER_jsonscan := common
UNIT_LAYER_conf := conf
UNIT_LAYER_spool := spool
UNIT_LAYER_otlp := otlp
UNIT_LAYER_redact := redact
UNIT_LAYER_redact_splice := redact
UNIT_LAYER_forwarder := forwarder
unit_layer = $(or $(UNIT_LAYER_$(1)),daemon)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/%)
# One program each; the load generator is tests/tools/loadgen.
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
# Tools and benchmarks are not the daemon: every layer but its.
TOOL_LIBS := $(call archives,forwarder)

PROGS := $(BUILD)/tracespoold $(if $(CLI_SRCS),$(BUILD)/tracespool)

.PHONY: all check unit integration run install deps asan check-asan \
	valgrind format lint clean help bench fuzz fuzz-run fuzz-long

all: $(BUILD)/layers.ok $(PROGS) $(TOOL_BINS)

# The include graph obeys the layers (scripts/layers.sh), checked again
# whenever a source file changes.
$(BUILD)/layers.ok: scripts/layers.sh $(wildcard $(addsuffix /*.[ch],$(LAYERS) cli))
	@mkdir -p $(dir $@)
	@scripts/layers.sh
	@touch $@

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

$(foreach l,$(LAYERS),$(eval $(BUILD)/lib/$(l).a: $(OBJS_$(l))))
$(BUILD)/lib/support.a: $(SUPPORT_OBJS)
$(BUILD)/lib/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tracespoold: $(BUILD)/daemon/main.o $(call archives,daemon)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tracespool: $(CLI_SRCS:%.c=$(BUILD)/%.o) $(call archives,cli)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Secondary expansion: each test's archives come from its name.
.SECONDEXPANSION:
$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(BUILD)/lib/support.a \
    $$(call archives,$$(call unit_layer,$$*))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/%: $(BUILD)/tests/tools/%.o $(BUILD)/lib/support.a $(TOOL_LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The fake upstream serves HTTPS too (tests/integration/t_tls.sh).
$(BUILD)/tests/fake_upstream: LDLIBS += \
	$(shell pkg-config --libs libevent_openssl openssl 2>/dev/null)

# The body step's driver measures daemon code (daemon/body.c): it alone
# links the daemon's archives.
BENCH_DAEMON := $(BUILD)/bench/body_bench

$(filter-out $(BENCH_DAEMON),$(BENCH_BINS)): $(BUILD)/bench/%: \
    $(BUILD)/bench/%.o $(BUILD)/lib/support.a $(TOOL_LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BENCH_DAEMON): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/lib/support.a \
    $(call archives,daemon)
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
FUZZ_LIB_SRCS := $(COMMON_SRCS) $(CONF_SRCS) $(OTLP_SRCS) $(REDACT_SRCS) \
	daemon/event.c daemon/body.c daemon/jsonmem.c \
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

## bench: the benchmark set (about four minutes)
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

## lint: style and static checks, and the layers' include graph
lint:
	scripts/layers.sh
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	    --inline-suppr -I. --include=/usr/include/x86_64-linux-gnu/sys/queue.h \
	    $$(git ls-files '*.c')

clean:
	rm -rf build

help:
	@grep -E '^## ' Makefile | sed 's/^## /  make /'

-include $(LIB_OBJS:.o=.d) $(BUILD)/daemon/main.d $(CLI_SRCS:%.c=$(BUILD)/%.d) \
	$(SUPPORT_SRCS:%.c=$(BUILD)/%.d) \
	$(UNIT_SRCS:%.c=$(BUILD)/%.d) $(TOOL_SRCS:%.c=$(BUILD)/%.d) \
	$(BENCH_SRCS:%.c=$(BUILD)/%.d) \
	$(wildcard $(FUZZ_BUILD)/obj/*/*.d $(FUZZ_BUILD)/obj/tests/fuzz/*.d)
