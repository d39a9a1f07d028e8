#!/usr/bin/env bash
# Runs every fuzz target of the module for a given time each and fails on any
# crasher (go test writes it to the package's testdata/fuzz/ for the record).
#
#   scripts/fuzz-all.sh 30s            # every target, 30 s each
#   scripts/fuzz-all.sh 10s ./api/...  # only targets under ./api
#
# Prints one line per target: package, target, executions, result.
set -uo pipefail
cd "$(dirname "$0")/.."
time=${1:-30s}
shift || true
pkgs=("${@:-./...}")
export CGO_ENABLED=0

failed=0
total=0
while read -r pkg; do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		total=$((total + 1))
		log=$(mktemp)
		if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$time" "$pkg" >"$log" 2>&1; then
			result=ok
		else
			result=FAIL
			failed=$((failed + 1))
		fi
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
		printf '%-55s %-26s %12s execs  %s\n' "$pkg" "$target" "${execs:-?}" "$result"
		if [ "$result" = FAIL ]; then
			sed 's/^/    /' "$log" | tail -30
		fi
		rm -f "$log"
	done
done < <(go list "${pkgs[@]}")

echo "$total fuzz targets, $failed failed ($time each)"
[ "$failed" -eq 0 ]
