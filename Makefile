# Two commands for a newcomer: `make run` and `make test`. Both install what the machine lacks
# (through apt, on Debian) and start private PostgreSQL and Redis servers when DATABASE_URL /
# REDIS_URL are not set.
GO ?= go

# Build and test with the Go release that has the standard library's security fixes, on any
# machine: the go command fetches it through the module proxy when the installed one is older,
# even where `go env GOTOOLCHAIN` says local (go.mod's toolchain line alone would not be enough
# there). Override with `make GOTOOLCHAIN=... test` to try another.
export GOTOOLCHAIN := go1.26.10

.PHONY: run test vet vulncheck browser-tools screenshots bench mailpit
run: deps mailpit
	$(GO) run . dev

# Mailpit, the mail catcher make run and the tests send to (app/mail/localmail), built through the
# Go module proxy into .data/bin, kept out of go.mod: a tool we run, not code we link.
MAILPIT_VERSION := v1.33.1
mailpit: .data/bin/mailpit
.data/bin/mailpit:
	GOBIN=$(CURDIR)/.data/bin $(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION)

# The whole-system tests (systemtest/: the browser suite among them) run on their own, from their
# folder: in that mode go test shows what the test binary prints, so the browser suite's summary
# ("browser flows: N run, ...") appears without -v.
test: deps vet vulncheck browser-tools mailpit
	$(GO) test -count=1 -race -timeout 20m $$($(GO) list ./... | grep -v '/systemtest$$')
	cd systemtest && $(GO) test -count=1 -race -timeout 20m

# Test tools from the npm registry that the browser suite loads into pages (axe-core), pinned by
# systemtest/browser/package-lock.json; npm ci runs again only when that changes.
BROWSER_TOOLS := systemtest/browser
browser-tools: $(BROWSER_TOOLS)/node_modules/.installed
$(BROWSER_TOOLS)/node_modules/.installed: $(BROWSER_TOOLS)/package.json $(BROWSER_TOOLS)/package-lock.json
	npm ci --prefix $(BROWSER_TOOLS) --no-audit --no-fund
	@touch $@

# Screenshots of the inbox, a message's details, the compose form and the staff dashboard, on a
# desktop and a phone, for the README.
screenshots: deps
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestScreenshots$$' ./systemtest/

# The performance suite (docs/performance.md): seeds a practice into a database of its own and
# measures the inbox pages, live fan-out and the cost of open streams against real servers, printing
# a table. Not part of `make test`: it prints figures and fails only if it cannot run at all. About
# five and a half minutes on two cores; flags through BENCHFLAGS, e.g. make bench BENCHFLAGS="-rounds 5"
# (go run ./systemtest/bench -h lists them).
bench: deps
	$(GO) run ./systemtest/bench $(BENCHFLAGS)

# govulncheck against a database built locally from the golang.org/x/vulndb module (it needs the
# Go module proxy, not vuln.go.dev); cached under .data/vulncheck. See .ci/vulncheck.
vulncheck:
	GO=$(GO) .ci/vulncheck

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l . ; echo "gofmt: files above need formatting" >&2; exit 1; }
	$(GO) vet ./...

# --- deps: system packages for local development and tests -----------------
# `make deps` installs what is missing with apt
# (Debian/Ubuntu, as root); as non-root it only says what to install.
#
# DEPS_APT lists command:package pairs; the package is installed when the
# command is not on PATH. Chromium is the browser the browser suite drives
# (systemtest/, through chromedp; no test tool downloads a browser of its own);
# npm installs that suite's pinned test tools.
# (PostgreSQL is not listed: initdb/pg_ctl live in /usr/lib/postgresql/N/bin,
# not on PATH; store/localpg reports clearly if they are missing.)
DEPS_APT := redis-server:redis-server chromium:chromium chromedriver:chromium-driver npm:npm

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
