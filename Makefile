# gsendmail — build, test, install. Run `make help` for the targets.
SHELL := /bin/bash
# The approved Go release: older ones have reachable standard-library
# vulnerabilities (make check runs govulncheck). The go command fetches it.
export GOTOOLCHAIN ?= go1.27.3
GO ?= go
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/gsendmail
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
PKG := github.com/gsendmail/gsendmail
LDFLAGS := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
BIN := bin/gsendmail

STATICCHECK_VERSION ?= v0.8.2
GOVULNCHECK_VERSION ?= v1.9.0
TEST_TIMEOUT ?= 60m
FUZZTIME ?= 10m

.PHONY: all build test test-deps test-unit race check groff-check cross bench fuzz fuzz-seeds install install-sendmail uninstall man demo deb clean help

all: build

help:
	@echo "make build            build bin/gsendmail"
	@echo "make demo             start a local Postfix+Dovecot and submit a sample message with -v"
	@echo "make test             install test dependencies (Debian, as root) and run every test"
	@echo "make test-unit        only the tests that need no real servers"
	@echo "make check            gofmt, go vet, staticcheck, govulncheck, cross builds"
	@echo "make bench            benchmarks against msmtp (see BENCHMARKS.md)"
	@echo "make fuzz             run every fuzz target for FUZZTIME each (default $(FUZZTIME))"
	@echo "make install          install binary, man pages, completions (PREFIX, DESTDIR)"
	@echo "make install-sendmail link /usr/sbin/sendmail and /usr/bin/mailq to gsendmail"
	@echo "make deb              build a Debian package in dist/"

build: $(BIN)

$(BIN): FORCE
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gsendmail

FORCE:

# Everything the tests need that is not Go comes from Debian packages,
# installed by the project's own script (no-op when already present).
test-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		bash internal/testkit/testenv/install-deps.sh; \
	else \
		echo "test-deps: not root or not Debian: real-server tests will be skipped unless postfix and dovecot are installed"; \
	fi

test: build test-deps
	GSENDMAIL_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-unit: build
	GSENDMAIL_BIN=$(CURDIR)/$(BIN) $(GO) test -short -count=1 ./...

race: build
	GSENDMAIL_BIN=$(CURDIR)/$(BIN) $(GO) test -race -short -count=1 ./...

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@bash internal/tools/govulncheck.sh $(GOVULNCHECK_VERSION)
	@$(MAKE) --no-print-directory cross
	@if command -v mandoc >/dev/null; then mandoc -Tlint -Wwarning man/*.[0-9]; fi
	@$(MAKE) --no-print-directory groff-check

cross:
	@for p in linux/amd64 linux/arm64 darwin/arm64 freebsd/amd64; do \
		echo "build $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/gsendmail || exit 1; \
	done

bench: build test-deps
	GSENDMAIL_BIN=$(CURDIR)/$(BIN) $(GO) run ./internal/testkit/bench/cmd/bench -out BENCHMARKS.md

fuzz:
	@bash internal/tools/fuzz.sh $(FUZZTIME)

man:
	@for f in man/*.[0-9]; do mandoc -Tlint -Wwarning $$f && echo "$$f ok"; done
	@$(MAKE) --no-print-directory groff-check

# Debian's man(1) renders with groff: no warning ("can't break line") allowed.
groff-check:
	@if command -v groff >/dev/null; then \
		for f in man/*.[0-9]; do \
			out=$$(groff -man -Tutf8 -ww -z $$f 2>&1); \
			if [ -n "$$out" ]; then echo "groff $$f:"; echo "$$out"; exit 1; fi; \
		done; \
	else echo "groff-check: groff not installed (Debian: groff-base)"; fi

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/gsendmail
	install -m 0644 man/gsendmail.1 $(DESTDIR)$(MANDIR)/man1/gsendmail.1
	install -m 0644 man/gsendmail.toml.5 $(DESTDIR)$(MANDIR)/man5/gsendmail.toml.5
	cp -R contrib $(DESTDIR)$(DOCDIR)/
	@if [ -d contrib/completions ]; then \
		install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR); \
		install -m 0644 contrib/completions/gsendmail.bash $(DESTDIR)$(BASHCOMPDIR)/gsendmail; \
		install -m 0644 contrib/completions/_gsendmail $(DESTDIR)$(ZSHCOMPDIR)/_gsendmail; \
		install -m 0644 contrib/completions/gsendmail.fish $(DESTDIR)$(FISHCOMPDIR)/gsendmail.fish; \
	fi

# Make gsendmail the system's sendmail. Refuses to replace a real MTA's
# binary: only a missing file or an existing gsendmail link is replaced.
install-sendmail: install
	@bash contrib/install-sendmail.sh "$(DESTDIR)" "$(BINDIR)/gsendmail"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gsendmail $(DESTDIR)$(MANDIR)/man1/gsendmail.1 $(DESTDIR)$(MANDIR)/man5/gsendmail.toml.5
	rm -rf $(DESTDIR)$(DOCDIR)

demo: build
	@bash internal/testkit/testenv/demo.sh $(CURDIR)/$(BIN)

deb: build
	@bash contrib/debian/build-deb.sh $(VERSION)

clean:
	rm -rf bin dist
