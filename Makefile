# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every dependency comes from a lock with hashes: requirements/runtime.lock is what the container ships
# (the service and PostgreSQL), requirements/dev.lock what developers and CI run (tests and linters too),
# requirements/build.lock the build backend the image's wheel is made with.
RUNTIME_LOCK := requirements/runtime.lock
DEV_LOCK := requirements/dev.lock
BUILD_LOCK := requirements/build.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(DEV_LOCK) | sha1sum | cut -c1-12)

.PHONY: install lock web-assets system-packages demo test test-postgres lint unit integration e2e bench soak clean

$(STAMP): pyproject.toml $(DEV_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# The workspace's NHS.UK frontend (npm, pinned by package-lock.json), and the node tools the tests start.
web-assets:
	scripts/install-web-assets

install: $(STAMP) web-assets

# Re-resolve the locks from pyproject.toml after changing a dependency, for the Python the image runs. Pins
# that still fit are kept; `make lock UPGRADE=--upgrade` takes the newest releases instead. The dev lock is
# held to the runtime lock's versions, so the tests run what the container ships.
UPGRADE ?=
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' $(UPGRADE)

lock:
	test -x $(BIN)/uv || $(MAKE) install
	$(UV_COMPILE) pyproject.toml --extra postgres --output-file $(RUNTIME_LOCK)
	$(UV_COMPILE) pyproject.toml --extra dev --constraints $(RUNTIME_LOCK) --output-file $(DEV_LOCK)
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(UV_COMPILE) - --output-file $(BUILD_LOCK)
	$(MAKE) install

system-packages:
	scripts/install-system-packages

# The embedded defaults (SQLite at var/nmss.db, a Maildir at var/mailbox, replies written to var/outbox),
# whatever a ./nmss-intake.toml or NMSS_… variables here say: the demo deletes var/ and must never reach a
# real mailbox or database. The service makes its own files private (0600/0700); var/ and the log the shell
# writes are made so here.
DEMO := env $$(env | sed -n 's/^\(NMSS_[A-Za-z0-9_]*\)=.*/-u \1/p') $(BIN)/nmss-intake --config examples/demo.toml
demo-run = @echo '$$ nmss-intake $(1)'; $(DEMO) $(1)

demo: install
	@echo "== Starting from an empty var/ (the embedded defaults' folder)"
	rm -rf var && mkdir -m 700 var
	$(call demo-run,db upgrade)
	@echo; echo "== The GP practice list the eligibility check uses (invented Norfolk practices, commissioner 26A)"
	$(call demo-run,samples practices var/epraccur.csv)
	$(call demo-run,practices import var/epraccur.csv --commissioner 26A)
	@echo; echo "== Sample referral emails with invented patients arrive in the Maildir"
	$(call demo-run,samples deliver)
	@echo; echo "== One run of the service"
	@umask 077; : >var/demo.log
	$(call demo-run,run --once) 2>>var/demo.log
	@echo; echo "== A second run finds nothing new"
	$(call demo-run,run --once) 2>>var/demo.log
	@echo; echo "== The referral queue"
	$(call demo-run,referrals list)
	@echo; echo "== The automatic replies in var/outbox"
	@$(BIN)/python scripts/show-replies var/outbox
	@echo "== The service's log (JSON lines, no patient data) is in var/demo.log"
	@echo "== Sample forms to try \`nmss-intake parse\` on: $(BIN)/nmss-intake samples forms var/forms"
	@echo; echo "== A demo account for the team's workspace (an administrator; invented data only)"
	@printf '%s\n' 'demo workspace password' | $(DEMO) users add demo@example.org --role admin --password-stdin
	@echo "== Open the workspace: $(BIN)/nmss-intake --config examples/demo.toml web, then http://127.0.0.1:8000/"
	@echo "   sign in as demo@example.org with the password: demo workspace password"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The suite runs a test file per core (up to four; each worker starts its own servers and browser): most of
# its time is spent waiting on Dovecot, PostgreSQL, daemons and Chromium, not computing. TEST_WORKERS=0 runs
# it in one process. The slowest tests are listed at the end, to see what a change cost.
TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 4 ? n : 4 )))
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=12

# The whole suite on SQLite (PostgreSQL-only tests included), then every test that uses the service's database
# again on PostgreSQL: a throwaway cluster, a fresh database per test.
test: install system-packages lint
	$(PYTEST)
	$(MAKE) test-postgres

test-postgres: install system-packages
	NMSS_TEST_DATABASE=postgresql $(PYTEST) -m database

unit: install
	$(BIN)/pytest tests/unit

integration: install system-packages
	$(PYTEST) tests/integration

e2e: install
	$(PYTEST) tests/e2e

# Median parse time per form against plain pdfplumber on the same files, measured in the same run.
bench: install
	$(BIN)/python bench/parse
	$(BIN)/python bench/intake
	$(BIN)/python bench/web

# Two daemons for SOAK_MINUTES against Dovecot, aiosmtpd and PostgreSQL with random faults; fails when a message
# is lost or anything is decided or sent twice. Not part of make test or make bench.
SOAK_MINUTES ?= 30
soak: install
	$(BIN)/python bench/soak --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
