#!/usr/bin/env bash
# make demo: start a private Postfix + Dovecot on loopback (strict HELO
# rules, STARTTLS, SASL), submit a sample message with gsendmail -v, and
# show what the server received. Everything is removed afterwards.
set -euo pipefail
bin=${1:-bin/gsendmail}
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	bash scripts/install-test-deps.sh
fi
tmp=$(mktemp -d /tmp/gsendmail-demo.XXXXXX)
cleanup() { exec 3>&- 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/mailserver" ./internal/testenv/cmd/mailserver
exec 3> >("$tmp/mailserver" -user demo@gsendmail.test -password demo-password >"$tmp/server.env" 2>"$tmp/server.log")
for _ in $(seq 100); do grep -q '^CAPTURE_DIR=' "$tmp/server.env" 2>/dev/null && break; sleep 0.1; done
if ! grep -q '^CAPTURE_DIR=' "$tmp/server.env"; then
	echo "demo: the local mail server did not start:"; cat "$tmp/server.log"; exit 1
fi
# shellcheck disable=SC1091
. "$tmp/server.env"

umask 077
cat >"$tmp/config.toml" <<TOML
default_account = "demo"
[defaults]
tls = "starttls"
[account.demo]
host = "localhost"
port = ${SUBMISSION_ADDR##*:}
tls_trust_file = "$CA_FILE"
user = "demo@gsendmail.test"
from = "demo@gsendmail.test"
password_command = "printf %s demo-password"
TOML

echo "== config ($tmp/config.toml) =="
cat "$tmp/config.toml"
echo
echo "== printf 'Subject: hi ...' | gsendmail -v someone@example.org =="
printf 'Subject: hello from gsendmail\n\nThis message went through a local Postfix with\nreject_non_fqdn_helo_hostname, STARTTLS and SASL.\n' |
	"$bin" -C "$tmp/config.toml" -v someone@example.org
echo "exit status: $?"
echo
for _ in $(seq 50); do ls "$CAPTURE_DIR"/*.msg >/dev/null 2>&1 && break; sleep 0.1; done
echo "== what the server delivered =="
for f in "$CAPTURE_DIR"/*; do echo "--- $(basename "$f")"; cat "$f"; done
