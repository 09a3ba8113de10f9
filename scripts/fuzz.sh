#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 30s), one
# at a time, and stops at the first failure. Targets are found with
# `go test -list`, so new ones are picked up without editing this file.
# A failing input is written by `go test` to the package's
# testdata/fuzz/<Target>/: fix the bug, then keep the file as a seed.
set -euo pipefail

go="${GO:-go}"
fuzztime="${FUZZTIME:-30s}"

for pkg in $("$go" list ./...); do
  listed=$("$go" test -list '^Fuzz' "$pkg")
  for target in $(grep '^Fuzz' <<<"$listed" || true); do
    echo "fuzz: $pkg $target for $fuzztime" >&2
    "$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
