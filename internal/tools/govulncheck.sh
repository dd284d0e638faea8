#!/usr/bin/env bash
# Runs govulncheck. The vulnerability database is a web service; on machines
# that cannot reach it (this project's CI reaches only the module proxy and
# Debian), say so plainly instead of pretending the check passed.
set -uo pipefail
version=${1:-v1.1.4}
out=$(go run "golang.org/x/vuln/cmd/govulncheck@${version}" ./... 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
	echo "$out" | tail -3
	exit 0
fi
if echo "$out" | grep -qiE 'dial tcp|no such host|could not resolve|connection refused|fetching vulnerabilities|i/o timeout|server misbehaving'; then
	echo "govulncheck: SKIPPED — the vulnerability database is unreachable from this machine:"
	echo "$out" | grep -iE 'dial|host|fetch|timeout' | head -2
	exit 0
fi
echo "$out"
exit $rc
