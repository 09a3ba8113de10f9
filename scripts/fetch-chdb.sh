#!/usr/bin/env bash
# Fetches the embedded ClickHouse engine (libchdb.so from the npm package
# @chdb/lib-linux-x64-gnu) into a cache outside the repository, verifies its
# checksum and reuses it on later runs. Prints the library's path.
set -euo pipefail

version="${CHDB_VERSION:-26.5.3}"
# sha256 of the npm tarball for the pinned version, and of the libchdb.so in
# it (internal/embedded/chdb.LibrarySHA256 checks the latter at every load).
want_sha="b874e449710950da3abd7e20376f7bb3387d9e03adcc7082f022be18dfdf316a"
want_lib_sha="4330da79405733f7572f27c1442f46c03a08301f00859dce0368645731b1e1dc"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/flowlens"
dir="$cache/chdb-$version"
lib="$dir/libchdb.so"

if [ -n "${CHDB_LIB_PATH:-}" ]; then
  [ -f "$CHDB_LIB_PATH" ] || { echo "CHDB_LIB_PATH=$CHDB_LIB_PATH does not exist" >&2; exit 1; }
  echo "$CHDB_LIB_PATH"; exit 0
fi
if [ -f "$dir/.verified" ] && [ -f "$lib" ]; then
  echo "$lib"; exit 0
fi

command -v npm >/dev/null || { echo "npm is needed to fetch the ClickHouse engine (apt-get install npm)" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tarball="$cache/chdb-lib-linux-x64-gnu-$version.tgz"
if [ ! -f "$tarball" ] || [ "$(sha256sum "$tarball" | cut -d' ' -f1)" != "$want_sha" ]; then
  echo "fetching @chdb/lib-linux-x64-gnu@$version (about 170 MB) ..." >&2
  (cd "$tmp" && npm pack --silent "@chdb/lib-linux-x64-gnu@$version" >/dev/null)
  mv "$tmp"/chdb-lib-linux-x64-gnu-"$version".tgz "$tarball"
fi
got_sha=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$got_sha" != "$want_sha" ]; then
  echo "checksum mismatch for $tarball: got $got_sha, want $want_sha" >&2
  rm -f "$tarball"; exit 1
fi
tar -xzf "$tarball" -C "$tmp" package/libchdb.so
got_lib_sha=$(sha256sum "$tmp/package/libchdb.so" | cut -d' ' -f1)
if [ "$got_lib_sha" != "$want_lib_sha" ]; then
  echo "checksum mismatch for libchdb.so in $tarball: got $got_lib_sha, want $want_lib_sha" >&2
  exit 1
fi
mkdir -p "$dir"
chmod 0644 "$tmp/package/libchdb.so"  # the loader refuses a library others may write
mv "$tmp/package/libchdb.so" "$lib"
touch "$dir/.verified"
echo "$lib"
