#!/usr/bin/env bash
# Install the Debian (bookworm) packages the tests need: real servers
# (postfix, dovecot-core) for internal/testkit/testenv/mailserver, the real callers
# of sendmail (git send-email, mailx, s-nail, mutt, PHP, cron), msmtp for
# comparisons and benchmarks, mandoc and groff for the man page lint,
# dnsmasq (the binary only; the tests run their own) for the private DNS;
# NSS's certutil and python3 (ctypes on libnss3) make Thunderbird
# key4.db/logins.json fixtures, sqlite3 checks the key4.db reader;
# and the SMTP clients internal/e2e/serve points at `gsendmail serve` (Python smtplib and
# Django, Node.js for nodemailer, PHPMailer, curl, swaks). nodemailer itself
# comes from the npm registry: the serve tests run `npm install` into a
# private cache directory (internal/e2e/serve). msmtpd (Debian msmtp-mta) is
# not installed: it would replace the test MTA; the benchmark extracts the
# .deb with dpkg-deb -x instead.
#
# Idempotent: when everything is present it runs one dpkg-query and exits.
# It never starts a daemon: the tests run private instances of their own.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} # the approved Go release (see the Makefile)

packages=(
	postfix dovecot-core
	msmtp git-email libmailtools-perl bsd-mailx s-nail mutt php-cli cron at sudo
	mandoc lintian openssl ca-certificates time systemd
	dnsmasq-base groff-base
	libnss3-tools python3 sqlite3
	python3-django nodejs libphp-phpmailer curl swaks
)
# Debian's npm conflicts with a nodejs from elsewhere (NodeSource ships npm
# inside its nodejs package): only ask for it when there is no npm at all.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=("${packages[@]}")
# One dpkg-query for all; unknown packages print nothing on stdout.
while read -r name status; do
	if [ "$status" = installed ]; then
		for i in "${!missing[@]}"; do
			[ "${missing[$i]}" = "${name%%:*}" ] && unset 'missing[i]'
		done
	fi
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=("${missing[@]}")
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-test-deps: missing ${missing[*]}; run this script as root (or: sudo $0)" >&2
	exit 1
fi
echo "install-test-deps: installing ${missing[*]}"

export DEBIAN_FRONTEND=noninteractive
# No prompt, and no /etc/postfix/main.cf: nothing may use the system
# Postfix; tests start their own instance with "master -c DIR".
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

# Keep maintainer scripts from starting daemons (invoke-rc.d honours
# policy-rc.d exit 101). Only remove the file if we created it.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi

log=$(mktemp /tmp/install-test-deps.XXXXXX)
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	echo "install-test-deps: apt-get failed; full log in $log" >&2
	exit 1
fi
rm -f "$log"

for u in postfix dovecot dovenull; do
	id "$u" >/dev/null 2>&1 || { echo "install-test-deps: system user $u missing after install; reinstall postfix/dovecot-core" >&2; exit 1; }
done
echo "install-test-deps: done"
