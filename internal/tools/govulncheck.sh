#!/usr/bin/env bash
# Runs govulncheck against a local copy of the Go vulnerability database.
#
# vuln.go.dev is unreachable where this project is tested, but the Go module
# proxy is not, and it serves the database's source, the golang.org/x/vulndb
# module (data/osv/GO-*.json). This script downloads that module with the
# ordinary go client, builds the layout `govulncheck -db file://DIR` reads
# (internal/tools/vulndb), caches it per vulndb version, and runs govulncheck.
# It exits non-zero when govulncheck finds a reachable vulnerability or when
# the database cannot be obtained: a check that did not run never passes.
#
# Usage: govulncheck.sh [GOVULNCHECK_VERSION]
# Environment: VULNDB_VERSION (default latest), GSENDMAIL_VULNDB_CACHE.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
version=${1:-v1.9.0}
vulndb=${VULNDB_VERSION:-latest}
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${GSENDMAIL_VULNDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gsendmail/vulndb}

# Outside any module, so go.mod and go.sum stay untouched.
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
if ! info=$(cd "$empty" && GOFLAGS=-mod=mod go mod download -json "golang.org/x/vulndb@${vulndb}" 2>&1); then
	echo "govulncheck: FAILED: cannot download golang.org/x/vulndb@${vulndb} from the module proxy ($(go env GOPROXY)):" >&2
	echo "$info" | tail -3 >&2
	exit 1
fi
field() { echo "$info" | sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" | head -1; }
dir=$(field Dir)
ver=$(field Version)
infofile=$(field Info)
when=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$infofile")
if [ -z "$dir" ] || [ ! -d "$dir/data/osv" ] || [ -z "$when" ]; then
	echo "govulncheck: FAILED: golang.org/x/vulndb@${ver:-?} has no data/osv directory; the module layout changed, update internal/tools/vulndb" >&2
	exit 1
fi
db="$cache/$ver"
if [ ! -f "$db/index/db.json" ]; then
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.build-XXXXXX")
	(cd "$root" && go run ./internal/tools/vulndb -osv "$dir/data/osv" -modified "$when" -out "$tmp")
	rm -rf "$db"
	mv "$tmp" "$db"
fi
echo "govulncheck: database golang.org/x/vulndb@${ver} (data of ${when}), $(go version | cut -d' ' -f3)"
cd "$root"
go run "golang.org/x/vuln/cmd/govulncheck@${version}" -db "file://${db}" ./...
