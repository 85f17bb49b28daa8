# planboard — plain Makefile (see README.md).
#   make            release build (-O2) of build/planboard
#   make test       unit tests (cmocka) + end-to-end tests against the real server (on SQLite,
#                   then again on a throwaway PostgreSQL: make e2e-pg)
#   make test SANITIZE=1   the same under AddressSanitizer + UBSan (separate build dir)
#   make run        install missing Debian packages (as root), build, serve the demo board
#   make bench      benchmarks (bench/README.md)

CC      ?= cc
PKGS    := libwebsockets libuv libcjson libjwt sqlite3 libargon2 glib-2.0 zlib libzip expat xlsxwriter \
	libcurl libcrypto libpq
# What `make run` needs (build + run the server) and what `make test` adds (test tools:
# cmocka, promtool for /metrics, wrk for bench-smoke, Chromium for the browser tests, strace
# for the CLI durability test, haproxy for the cluster tests, postgresql for make e2e-pg). libpq-dev: the PostgreSQL store
# (issue 13; docs/postgresql.md) links libpq; postgresql: the server binaries that
# scripts/pg-temp.sh runs for the tests and `make cluster` (which installs it too; installing
# the package also makes Debian's own cluster "15 main"; planboard does not use it).
RUN_PKGS := build-essential pkg-config libwebsockets-dev libwebsockets-evlib-uv libuv1-dev \
	libsqlite3-dev libcjson-dev libjwt-dev libargon2-dev libcsv-dev libssl-dev zlib1g-dev tzdata \
	libglib2.0-dev libzip-dev libexpat1-dev libxlsxwriter-dev libcurl4-openssl-dev libpq-dev
TEST_PKGS := libcmocka-dev sqlite3 curl python3 prometheus wrk chromium strace postgresql haproxy
# What `make fuzz` adds to RUN_PKGS: Debian's clang and its libFuzzer/sanitizer runtimes.
FUZZ_PKGS := clang libclang-rt-14-dev

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
PURE_SERVER := server/auth.c server/config.c server/ratelimit.c server/encoding.c
CORE_SRC := $(wildcard core/*.c protocol/*.c store/*.c locks/*.c importers/*.c) $(wildcard $(PURE_SERVER))
SRV_SRC  := $(filter-out server/main.c $(PURE_SERVER),$(wildcard server/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema_sql.o $(BUILD)/gen/schema_pg_sql.o
SRV_OBJ  := $(SRV_SRC:%.c=$(BUILD)/%.o)
TEST_NEEDS_SERVER := test_room test_durable
TEST_SRC := $(wildcard test/test_*.c)
TEST_BIN := $(TEST_SRC:test/%.c=$(BUILD)/test/%)

.PHONY: all test unit e2e e2e-pg browser run clean deps check-deps check-test-deps bench bench-smoke \
	fuzz fuzz-run check-fuzz-deps writer-bench pg-schema cluster cluster-test cluster-locks-test
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
# schema-pg.sql: the same for PostgreSQL (SPEC §12).
$(BUILD)/gen/schema_pg_sql.c: schema-pg.sql
	@mkdir -p $(dir $@)
	@{ echo 'const char pb_schema_pg_sql[] ='; \
	   sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; echo ';'; } > $@
$(BUILD)/gen/schema_pg_sql.o: $(BUILD)/gen/schema_pg_sql.c $(SETTINGS)
	$(CC) $(CFLAGS) -Wno-missing-variable-declarations -c $< -o $@

$(BUILD)/libpb_core.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libpb_server.a: $(SRV_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/planboard: $(BUILD)/server/main.o $(BUILD)/libpb_server.a $(BUILD)/libpb_core.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A test that links the server library waits for it (a clean `make unit` built it too late).
$(TEST_NEEDS_SERVER:%=$(BUILD)/test/%): $(BUILD)/libpb_server.a
$(BUILD)/test/%: $(BUILD)/test/%.o $(BUILD)/libpb_core.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(if $(filter $*,$(TEST_NEEDS_SERVER)),$(BUILD)/libpb_server.a) \
		$(BUILD)/libpb_core.a $(LDLIBS) -lcmocka

# Informative figures for the writer (store/writer.c; bench/README.md "The writer"): jobs/s and
# commits/s through it with 1 and 8 submitters against a plain BEGIN/INSERT/COMMIT loop.
$(BUILD)/bench/writer_bench: $(BUILD)/bench/writer_bench.o $(BUILD)/libpb_core.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
writer-bench: $(BUILD)/bench/writer_bench
	$(BUILD)/bench/writer_bench $(WRITER_BENCH_JOBS)

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
# E2E=test/e2e/F.test.mjs runs one file (e2e and e2e-pg).
E2E ?= test/e2e/
e2e: $(BUILD)/planboard
	PB_BIN=$(abspath $(BUILD)/planboard) PB_SAMPLES=$(SAMPLES) node --test --test-concurrency=1 $(E2E)

# The same e2e suite against PostgreSQL (SPEC §12, issue 13): a throwaway cluster in a temp dir
# (scripts/pg-temp.sh, Debian's postgresql), every test server in a fresh database of its own
# (PB_TEST_PG, test/e2e/lib.mjs). The trap stops the cluster and removes its dir however the
# suite ends (failure, Ctrl-C); the suite's exit status is make's.
e2e-pg: $(BUILD)/planboard
	@dir=$$(mktemp -d /tmp/planboard-pg.XXXXXX) || exit 1; \
	trap 'scripts/pg-temp.sh stop "$$dir" || rm -rf "$$dir"' EXIT; \
	trap 'exit 130' INT TERM HUP; \
	url=$$(scripts/pg-temp.sh start "$$dir" --fast) || exit 1; \
	echo "e2e-pg: PostgreSQL at $$url ($$dir)"; \
	PB_TEST_PG=$$url PB_BIN=$(abspath $(BUILD)/planboard) PB_SAMPLES=$(SAMPLES) \
	  node --test --test-concurrency=1 $(E2E)

test: deps
	$(MAKE) unit
	$(MAKE) pg-schema
	$(MAKE) e2e
	$(MAKE) e2e-pg
	$(MAKE) cluster-test
	$(MAKE) browser
	$(MAKE) bench-smoke

# schema-pg.sql against schema.sql on a throwaway PostgreSQL (scripts/pg-temp.sh): the same
# columns, indexes and analytics trigger effects, idempotent, and the RLS fence (test/pg/schema.sh).
pg-schema:
	test/pg/schema.sh

# The cluster through HAProxy on PostgreSQL (test/cluster/, issue 13 "Tests"; needs haproxy and
# postgresql from TEST_PKGS): scripts/cluster.sh started by each test file itself, about 60 s:
# 200 clients, PostgreSQL stopped under load, SIGKILL mid-storm (cluster.test.mjs) and the
# drag-lock race between two nodes (locks.test.mjs; cluster-locks-test runs it alone).
cluster-test: $(BUILD)/planboard
	PB_BIN=$(abspath $(BUILD)/planboard) node --test --test-concurrency=1 test/cluster/cluster.test.mjs \
		test/cluster/locks.test.mjs test/cluster/follow.test.mjs
cluster-locks-test: $(BUILD)/planboard
	PB_BIN=$(abspath $(BUILD)/planboard) node --test --test-concurrency=1 test/cluster/locks.test.mjs

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

# PostgreSQL in a temp dir, three nodes and HAProxy on 127.0.0.1:$(PORT), with the demo tenant;
# Ctrl-C stops it all (scripts/cluster.sh; README "Cluster (PostgreSQL + HAProxy)").
cluster: check-deps
	$(call install_missing,postgresql haproxy)
	$(MAKE) all
	PORT=$(PORT) PB_BIN=$(abspath $(BUILD)/planboard) scripts/cluster.sh

# ---------------------------------------------------------------- fuzzing (docs/fuzzing.md)
# `make fuzz` builds the libFuzzer targets test/fuzz/fuzz_<name>.c with Debian's clang under
# ASan + UBSan into build-fuzz/; `make fuzz-run FUZZ_SECONDS=60` runs each one for that long
# on a copy of its committed corpus (test/fuzz/corpus/<name>/) and fails on any crash.
FUZZ_CC      := clang
FUZZ_DIR     := build-fuzz
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
# Cheap argon2 (server/auth.h): a login at the real cost would take most of a run's time.
FUZZ_CFLAGS  := $(CFLAGS_BASE) -O1 -g $(FUZZ_SAN) $(PKG_CFLAGS) \
	-DPB_ARGON2_T_COST=1 -DPB_ARGON2_M_COST=64
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined
# Pure targets link the core; the others run the whole server in-process (harness_server.c).
FUZZ_PURE    := csv_import xlsx_import ws_message json_strict
FUZZ_SERVER  := json_body multipart http_request ws_session
FUZZ_TARGETS := $(FUZZ_PURE) $(FUZZ_SERVER)
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_SECONDS ?= 60
FUZZ_SETTINGS := $(FUZZ_DIR)/.make-settings

check-fuzz-deps:
	$(call install_missing,$(RUN_PKGS) $(FUZZ_PKGS))
fuzz: check-fuzz-deps
	$(MAKE) $(FUZZ_BIN)

$(FUZZ_SETTINGS): FORCE
	@mkdir -p $(@D)
	@echo '$(FUZZ_CC) $(FUZZ_CFLAGS)' | cmp -s - $@ || echo '$(FUZZ_CC) $(FUZZ_CFLAGS)' > $@
.PHONY: FORCE
FORCE:
$(FUZZ_DIR)/%.o: %.c $(FUZZ_SETTINGS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_DIR)/gen/schema_sql.o: $(BUILD)/gen/schema_sql.c $(FUZZ_SETTINGS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_DIR)/gen/schema_pg_sql.o: $(BUILD)/gen/schema_pg_sql.c $(FUZZ_SETTINGS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
# main.c with main() renamed, so the harness starts the server exactly as the binary does.
$(FUZZ_DIR)/server/main_fuzz.o: server/main.c $(FUZZ_SETTINGS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Dmain=planboard_main -Wno-missing-prototypes -c $< -o $@
$(FUZZ_DIR)/libpb_core.a: $(CORE_SRC:%.c=$(FUZZ_DIR)/%.o) $(FUZZ_DIR)/gen/schema_sql.o \
		$(FUZZ_DIR)/gen/schema_pg_sql.o
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_DIR)/libpb_server.a: $(SRV_OBJ:$(BUILD)/%=$(FUZZ_DIR)/%) $(FUZZ_DIR)/server/main_fuzz.o
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_PURE:%=$(FUZZ_DIR)/fuzz_%): $(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/test/fuzz/fuzz_%.o \
		$(FUZZ_DIR)/libpb_core.a
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)
$(FUZZ_SERVER:%=$(FUZZ_DIR)/fuzz_%): $(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/test/fuzz/fuzz_%.o \
		$(FUZZ_DIR)/test/fuzz/harness_server.o $(FUZZ_DIR)/libpb_server.a $(FUZZ_DIR)/libpb_core.a
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)

# Each target runs on a copy of its corpus (new inputs land in the copy, never in git; merge
# worthwhile ones by hand with -merge=1, docs/fuzzing.md); a crash leaves its input in
# $(FUZZ_DIR)/run/<name>/ and fails the run.
fuzz-run: fuzz
	@fail=0; for t in $(FUZZ_TARGETS); do \
	  run=$(FUZZ_DIR)/run/$$t; rm -rf $$run; mkdir -p $$run/corpus; \
	  cp test/fuzz/corpus/$$t/* $$run/corpus/; \
	  dict=; [ -f test/fuzz/$$t.dict ] && dict=-dict=test/fuzz/$$t.dict; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_DIR)/fuzz_$$t $$run/corpus $$dict -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=$$run/ -print_final_stats=1 >$$run/log 2>&1 \
	    || { fail=1; echo "fuzz_$$t FAILED:"; tail -60 $$run/log; }; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec)|cov:' $$run/log | tail -3; \
	done; exit $$fail

clean:
	rm -rf build build-san $(FUZZ_DIR)

-include $(shell find $(BUILD) $(if $(filter fuzz% $(FUZZ_DIR)/%,$(MAKECMDGOALS)),$(FUZZ_DIR)) -name '*.d' 2>/dev/null)
