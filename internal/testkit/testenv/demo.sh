#!/usr/bin/env bash
# make demo: start a private Postfix + Dovecot on loopback (strict HELO
# rules, STARTTLS, SASL), submit a sample message with gsendmail -v, and
# show what the server received. Then the same with OAuth2: a local fake
# authorization server issues tokens, Dovecot's oauth2 passdb checks them,
# and gsendmail refreshes and sends AUTH XOAUTH2 itself. Everything is
# removed afterwards.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} # the approved Go release (see the Makefile)
bin=${1:-bin/gsendmail}
cd "$(dirname "$0")/../.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	bash internal/testkit/testenv/install-deps.sh
fi
tmp=$(mktemp -d /tmp/gsendmail-demo.XXXXXX)
cleanup() { exec 3>&- 4>&- 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/mailserver" ./internal/testkit/testenv/cmd/mailserver
go build -o "$tmp/authserver" ./internal/testkit/testenv/cmd/authserver
# The OAuth2 authorization server first: Dovecot needs its tokeninfo URL.
exec 4> >("$tmp/authserver" -user demo@gsendmail.test >"$tmp/auth.env" 2>"$tmp/auth.log")
for _ in $(seq 100); do grep -q '^AUTHSERVER_PID=' "$tmp/auth.env" 2>/dev/null && break; sleep 0.1; done
if ! grep -q '^AUTHSERVER_PID=' "$tmp/auth.env"; then
	echo "demo: the local OAuth2 server did not start:"; cat "$tmp/auth.log"; exit 1
fi
# shellcheck disable=SC1091
. "$tmp/auth.env"
exec 3> >("$tmp/mailserver" -user demo@gsendmail.test -password demo-password -oauth-tokeninfo "$TOKENINFO_URL" >"$tmp/server.env" 2>"$tmp/server.log")
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

# OAuth2: the same server, XOAUTH2 through Dovecot's oauth2 passdb. The
# refresh token comes from the local authorization server, as one from
# Google or Microsoft would come from "gsendmail auth login".
cat >>"$tmp/config.toml" <<TOML

[account.demo-oauth]
host = "localhost"
port = ${SUBMISSION_ADDR##*:}
tls_trust_file = "$CA_FILE"
user = "demo@gsendmail.test"
from = "demo@gsendmail.test"
auth = "oauth2"
oauth_provider = "generic"
oauth_client_id = "$CLIENT_ID"
oauth_client_secret = "$CLIENT_SECRET"
oauth_auth_url = "$AUTH_URL"
oauth_token_url = "$TOKEN_URL"
token_store = "file"
TOML
export XDG_STATE_HOME="$tmp/state"
echo
echo "== OAuth2: [account.demo-oauth] added to the config =="
sed -n '/^\[account.demo-oauth\]/,$p' "$tmp/config.toml"
echo
echo "== gsendmail auth import demo-oauth < refresh-token =="
printf '%s\n' "$REFRESH_TOKEN" >"$tmp/refresh-token"
GSENDMAIL_CONFIG="$tmp/config.toml" "$bin" auth import demo-oauth <"$tmp/refresh-token"
echo
echo "== gsendmail auth status demo-oauth =="
GSENDMAIL_CONFIG="$tmp/config.toml" "$bin" auth status demo-oauth
echo
echo "== printf 'Subject: hi ...' | gsendmail -a demo-oauth -v someone@example.org =="
printf 'Subject: hello over OAuth2\n\nThis message was authenticated with AUTH XOAUTH2; gsendmail\nobtained the access token itself and Dovecot checked it.\n' |
	"$bin" -C "$tmp/config.toml" -a demo-oauth -v someone@example.org
echo "exit status: $?"
echo
for _ in $(seq 50); do [ "$(ls "$CAPTURE_DIR"/*.msg 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.1; done
echo "== what the server delivered over OAuth2 =="
f=$(ls "$CAPTURE_DIR"/*.msg | sort | tail -n 1)
echo "--- $(basename "$f")"; cat "$f"
