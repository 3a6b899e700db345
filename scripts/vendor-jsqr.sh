#!/usr/bin/env bash
# Vendor jsQR (the QR decoder of the /scanner page) from the npm registry, reproducibly.
#
#   scripts/vendor-jsqr.sh
#
# Downloads the pinned release with `npm pack`, refuses it unless its sha512 matches the
# integrity pinned below, and copies dist/jsQR.js and LICENSE into api/static/scanner/vendor/
# with a README recording the version and the files' sha256.
#
# To move to another release: set JSQR_VERSION, set JSQR_INTEGRITY to the output of
#   npm view jsqr@<version> dist.integrity
# run this script, read the upstream changes, and commit the four changed files.
set -euo pipefail

JSQR_VERSION="1.4.0"
JSQR_INTEGRITY="sha512-dxLob7q65Xg2DvstYkRpkYtmKm2sPJ9oFhrhmudT1dZvNFFTlroai3AWSpLey/w5vMcLBXRgOJsbXpdN9HzU/A=="

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo_root/api/static/scanner/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
# --ignore-scripts: packing a registry spec must never run package code.
tarball="$(npm pack --silent --ignore-scripts "jsqr@${JSQR_VERSION}" 2>/dev/null | tail -n 1)"
if [[ ! -f "$tarball" ]]; then
  echo "vendor-jsqr: npm pack jsqr@${JSQR_VERSION} produced no tarball" >&2
  exit 1
fi

actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w 0)"
if [[ "$actual" != "$JSQR_INTEGRITY" ]]; then
  echo "vendor-jsqr: integrity mismatch for jsqr@${JSQR_VERSION}" >&2
  echo "  expected $JSQR_INTEGRITY" >&2
  echo "  actual   $actual" >&2
  exit 1
fi

# Extract only the two members we ship (npm tarballs put everything under package/).
tar -xzf "$tarball" --no-same-owner --no-same-permissions package/dist/jsQR.js package/LICENSE
mkdir -p "$dest"
install -m 0644 package/dist/jsQR.js "$dest/jsQR.js"
install -m 0644 package/LICENSE "$dest/LICENSE.jsQR"

js_sha256="$(sha256sum "$dest/jsQR.js" | cut -d ' ' -f 1)"
license_sha256="$(sha256sum "$dest/LICENSE.jsQR" | cut -d ' ' -f 1)"

cat > "$dest/README.md" <<README
# Vendored: jsQR

The /scanner page decodes QR codes from camera frames with
[jsQR](https://github.com/cozmo/jsQR) (npm package \`jsqr\`, Apache-2.0). It is vendored —
not built — so the page needs no build step and is served with a strict
Content-Security-Policy from the app itself.

| file | from the package | sha256 |
|---|---|---|
| \`jsQR.js\` | \`dist/jsQR.js\` (UMD bundle; defines the global \`jsQR\`) | \`${js_sha256}\` |
| \`LICENSE.jsQR\` | \`LICENSE\` (Apache License 2.0) | \`${license_sha256}\` |

- version: **${JSQR_VERSION}**
- npm tarball integrity: \`${JSQR_INTEGRITY}\`

Do not edit these files by hand. To re-vendor (or move to another release), edit
\`JSQR_VERSION\` and \`JSQR_INTEGRITY\` (from \`npm view jsqr@<version> dist.integrity\`) in
\`scripts/vendor-jsqr.sh\` and run it; it refuses a tarball whose sha512 does not match and
rewrites this README. \`tests/test_scanner_page.py\` checks the sha256 values above.
README

echo "vendored jsqr@${JSQR_VERSION} into ${dest#"$repo_root"/}"
echo "  jsQR.js       sha256 ${js_sha256}"
echo "  LICENSE.jsQR  sha256 ${license_sha256}"
