#!/bin/sh
# Builds bin/flowlens-agent_VERSION_ARCH.deb with dpkg-deb: the static
# binary in /usr/bin, the unit in /lib/systemd/system, the default config
# in /etc/flowlens-agent (a conffile: an edited one is kept on upgrade).
# Usage: packaging/deb/build.sh VERSION [ARCH] [OUTDIR]
set -eu
version=$1
arch=${2:-$(go env GOARCH)}
out=${3:-bin}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/flowlens-agent" "$out"
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$stage/usr/bin/flowlens-agent" ./cmd/flowlens-agent)
# the unit and config as `flowlens-agent install` writes them, made by a
# binary that runs here (the package's may be for another architecture)
if [ "$arch" = "$(go env GOHOSTARCH)" ]; then
	"$stage/usr/bin/flowlens-agent" package-files "$stage"
else
	(cd "$repo" && go run ./cmd/flowlens-agent package-files "$stage")
fi
mv "$stage/flowlens-agent.service" "$stage/lib/systemd/system/"
mv "$stage/agent.yaml" "$stage/etc/flowlens-agent/"
echo /etc/flowlens-agent/agent.yaml > "$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$here/$s" "$stage/DEBIAN/$s"; done
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: flowlens-agent
Version: $version
Architecture: $arch
Maintainer: flowlens
Installed-Size: $size
Section: admin
Priority: optional
Depends: passwd
Description: flowlens host agent
 Follows log files and receives OTLP, keeps everything in a disk buffer
 and forwards it to Kafka for flowlens.
CONTROL
deb="$out/flowlens-agent_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
