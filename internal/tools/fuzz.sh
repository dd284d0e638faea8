#!/usr/bin/env bash
# Runs every fuzz target of the project for FUZZTIME each (default 10m),
# one after another. A failing target does not stop the run; the crashers
# Go wrote under each package's testdata/fuzz/ are listed at the end, to be
# fixed and committed as seeds.
#
#   bash internal/tools/fuzz.sh [FUZZTIME]       e.g. bash internal/tools/fuzz.sh 30s
#
# FUZZ_FILTER (a grep -E pattern on "dir FuzzName") selects targets, e.g.
# FUZZ_FILTER='internal/smtp ' bash internal/tools/fuzz.sh 1m.
# FUZZ_PARALLEL (default 1) is the number of fuzz workers per target, so a
# shared machine keeps its other cores. Targets are found with grep, so a
# new `func FuzzXxx(f *testing.F)` is picked up without editing this file.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} # the approved Go release (see the Makefile)
fuzztime=${1:-${FUZZTIME:-10m}}
parallel=${FUZZ_PARALLEL:-1}
cd "$(dirname "$0")/../.."
mod=$(go list -m)

mapfile -t targets < <(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . |
	sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+).*#\1 \2#' | sort -u |
	grep -E -- "${FUZZ_FILTER:-.}" || true)
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${fuzztime} each, ${parallel} worker(s)"
failed=()
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	echo "== ${mod}/${dir} ${name}"
	if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="${fuzztime}" -parallel="${parallel}" "./${dir}/"; then
		failed+=("${dir} ${name}: crasher in ${dir}/testdata/fuzz/${name}/")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz.sh: ${#failed[@]} target(s) failed; fix the bug and commit the crasher as a seed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran ${fuzztime} without a failure"
