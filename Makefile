# Two commands for a newcomer: `make run` and `make test`. Both install what the machine lacks
# (through apt, on Debian) and start private PostgreSQL and Redis servers when DATABASE_URL /
# REDIS_URL are not set.
GO ?= go

.PHONY: run test vet
run: deps
	$(GO) run . dev

test: deps vet
	$(GO) test -count=1 -race -timeout 20m ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l . ; echo "gofmt: files above need formatting" >&2; exit 1; }
	$(GO) vet ./...

# --- deps: system packages for local development and tests -----------------
# `make deps` installs what is missing with apt
# (Debian/Ubuntu, as root); as non-root it only says what to install.
#
# DEPS_APT lists command:package pairs; the package is installed when the
# command is not on PATH. To add the browser for UI tests later:
#   DEPS_APT += chromium:chromium chromedriver:chromium-driver
# (PostgreSQL is not listed: initdb/pg_ctl live in /usr/lib/postgresql/N/bin,
# not on PATH; store/localpg reports clearly if they are missing.)
DEPS_APT := redis-server:redis-server

.PHONY: deps
deps:
	@missing=""; \
	for pair in $(DEPS_APT); do \
		cmd=$${pair%%:*}; pkg=$${pair#*:}; \
		command -v "$$cmd" >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: nothing to install"; exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ]; then \
		echo "deps: missing system packages:$$missing" >&2; \
		echo "deps: install them as root, e.g.: sudo apt-get install -y$$missing" >&2; \
		exit 1; \
	fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "deps: apt-get not found; install these packages yourself:$$missing" >&2; \
		exit 1; \
	fi; \
	echo "deps: installing$$missing"; \
	apt-get update && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing
