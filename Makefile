# planboard — plain Makefile (see README.md).
#   make            release build (-O2) of build/planboard
#   make test       unit tests (cmocka) + end-to-end tests against the real server
#   make test SANITIZE=1   the same under AddressSanitizer + UBSan (separate build dir)
#   make run        install missing Debian packages (as root), build, serve the demo board
#   make bench      benchmarks (bench/README.md)

CC      ?= cc
PKGS    := libwebsockets libuv libcjson libjwt sqlite3 libargon2
# What `make run` needs (build + run the server) and what `make test` adds (test tools:
# cmocka, promtool for /metrics, wrk for bench-smoke, Chromium for the browser tests, strace
# for the CLI durability test).
RUN_PKGS := build-essential pkg-config libwebsockets-dev libwebsockets-evlib-uv libuv1-dev \
	libsqlite3-dev libcjson-dev libjwt-dev libargon2-dev libcsv-dev libssl-dev tzdata
TEST_PKGS := libcmocka-dev sqlite3 curl python3 prometheus wrk chromium strace

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(WARN) -MMD -MP -I.

ifeq ($(SANITIZE),)
  BUILD   := build
  OPT     := -O2 -g
  SANFLAGS :=
else
  BUILD   := build-san
  OPT     := -O1 -g
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  := $(CFLAGS_BASE) $(OPT) $(SANFLAGS) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lcsv -lcrypto -lm -lpthread
LDFLAGS := $(SANFLAGS)

# Two archives: the core (no sockets: protocol, store, locks, importers, and the pure server
# modules auth and config) and the libwebsockets/libuv server. A unit test links the core only,
# unless it is listed in TEST_NEEDS_SERVER.
PURE_SERVER := server/auth.c server/config.c server/ratelimit.c
CORE_SRC := $(wildcard protocol/*.c store/*.c locks/*.c importers/*.c) $(wildcard $(PURE_SERVER))
SRV_SRC  := $(filter-out server/main.c $(PURE_SERVER),$(wildcard server/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema_sql.o
SRV_OBJ  := $(SRV_SRC:%.c=$(BUILD)/%.o)
TEST_NEEDS_SERVER :=
TEST_SRC := $(wildcard test/test_*.c)
TEST_BIN := $(TEST_SRC:test/%.c=$(BUILD)/test/%)

.PHONY: all test unit e2e browser run clean deps check-deps check-test-deps bench bench-smoke
.SECONDARY:
all: $(BUILD)/planboard

# Rebuild everything when the flags change (Redis keeps them in .make-settings).
SETTINGS := $(BUILD)/.make-settings
$(shell mkdir -p $(BUILD); echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $(SETTINGS) || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $(SETTINGS))

$(BUILD)/%.o: %.c $(SETTINGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# schema.sql is compiled into the binary so the server applies it at start.
$(BUILD)/gen/schema_sql.c: schema.sql
	@mkdir -p $(dir $@)
	@{ echo 'const char pb_schema_sql[] ='; \
	   sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; echo ';'; } > $@
$(BUILD)/gen/schema_sql.o: $(BUILD)/gen/schema_sql.c $(SETTINGS)
	$(CC) $(CFLAGS) -Wno-missing-variable-declarations -c $< -o $@

$(BUILD)/libpb_core.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libpb_server.a: $(SRV_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/planboard: $(BUILD)/server/main.o $(BUILD)/libpb_server.a $(BUILD)/libpb_core.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test/%: $(BUILD)/test/%.o $(BUILD)/libpb_core.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(if $(filter $*,$(TEST_NEEDS_SERVER)),$(BUILD)/libpb_server.a) \
		$(BUILD)/libpb_core.a $(LDLIBS) -lcmocka

# Install missing Debian packages when root, else print the one apt-get line to run.
define install_missing
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(if $(2),command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm";) \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "missing packages; run: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi
endef
check-deps:
	$(call install_missing,$(RUN_PKGS))
check-test-deps:
	$(call install_missing,$(RUN_PKGS) $(TEST_PKGS),node)
deps: check-test-deps node_modules/.planboard-stamp
# npm packages of the tests (package-lock.json); reinstalled whenever the lock file changes.
node_modules/.planboard-stamp: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

unit: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do echo "== $$t"; PB_SAMPLES=$(SAMPLES) $$t || fail=1; done; exit $$fail

SAMPLES ?= $(abspath ../shared/samples)
e2e: $(BUILD)/planboard
	PB_BIN=$(abspath $(BUILD)/planboard) PB_SAMPLES=$(SAMPLES) node --test --test-concurrency=1 test/e2e/

test: deps
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) browser
	$(MAKE) bench-smoke

# The browser board in Debian's Chromium, driven by playwright-core (test/browser/).
browser: $(BUILD)/planboard
	node --test test/web/
	PB_BIN=$(abspath $(BUILD)/planboard) PB_SAMPLES=$(SAMPLES) node --test --test-concurrency=1 test/browser/

# Benchmarks (bench/README.md): figures, never a pass/fail on a number.
bench: all
	$(MAKE) -C bench run
bench-smoke: all
	$(MAKE) -C bench smoke

PORT ?= 8080
# The build is a sub-make: its pkg-config flags are read after check-deps installed the packages
# (a fresh machine has no cJSON.h when this Makefile is first parsed).
run: check-deps
	$(MAKE) all
	@mkdir -p var
	PORT=$(PORT) ./$(BUILD)/planboard demo --config config.example.ini

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
