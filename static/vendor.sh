#!/usr/bin/env bash
# Vendors htmx and its SSE extension into static/js from the npm registry, pinned by version and
# checked against the sha256 sums below. Run it by hand to upgrade: change the version, run it,
# read the diff, and put the new sums here.
set -euo pipefail
HTMX_VERSION=4.0.1
declare -A SUMS=(
  [dist/htmx.min.js]=a0abb04f2f45a1f89d1d4844023245537e5e6014c87b144553e0607b4cc32130
  [dist/ext/hx-sse.min.js]=18ef2761356ec1fe0bb6d92612315b37517a7c1e9856b661c5ae81fef239d103
)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX_VERSION" >/dev/null && tar xzf "htmx.org-$HTMX_VERSION.tgz")
for path in "${!SUMS[@]}"; do
  got=$(sha256sum "$work/package/$path" | cut -d' ' -f1)
  if [ "$got" != "${SUMS[$path]}" ]; then
    echo "vendor.sh: $path of htmx.org@$HTMX_VERSION has sha256 $got, expected ${SUMS[$path]}" >&2
    exit 1
  fi
  cp "$work/package/$path" "$here/js/$(basename "$path")"
done
echo "vendored htmx.org@$HTMX_VERSION into $here/js"
