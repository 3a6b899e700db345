#!/usr/bin/env bash
# Vendor GraphiQL (the in-browser IDE served at GET /graphql outside production) and what its
# page loads from the npm registry, reproducibly.
#
#   scripts/vendor-graphiql.sh
#
# For each pinned package below: `npm pack` it (never running its scripts), refuse the tarball
# unless its sha512 matches the pinned integrity, and copy only the browser builds the page
# loads, plus the package's LICENSE (@graphiql/plugin-explorer ships none: its package.json,
# which declares MIT, is kept instead; it comes from the graphql/graphiql monorepo, whose MIT
# licence is graphiql's LICENSE), into api/static/graphiql/vendor/, with a README recording
# versions, integrities and every file's sha256 (tests/test_graphiql_page.py checks them).
#
# Why these releases: GraphiQL 4 and later ship ES modules only (no UMD bundle to load with a
# plain <script>, so they would need a build step); 3.8.3 is the last UMD release, the one
# strawberry's own page loads from a CDN. It bundles @graphiql/react 0.28, which
# @graphiql/plugin-explorer 3.2.5 is made for. React 18.3.1 is the last React with UMD builds
# (React 19 dropped them) and satisfies GraphiQL 3's peer range.
#
# To move to another release: change the version and set the integrity to the output of
#   npm view <package>@<version> dist.integrity
# run this script, read the upstream changes, run tests/test_graphiql_e2e.py, and commit.
set -euo pipefail

# package | version | integrity | files to ship ("path-in-package:vendored-name" ...)
PACKAGES=(
  "react|18.3.1|sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==|umd/react.production.min.js:react.production.min.js LICENSE:LICENSE.react"
  "react-dom|18.3.1|sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==|umd/react-dom.production.min.js:react-dom.production.min.js LICENSE:LICENSE.react-dom"
  "graphiql|3.8.3|sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==|graphiql.min.js:graphiql.min.js graphiql.min.css:graphiql.min.css LICENSE:LICENSE.graphiql"
  "@graphiql/plugin-explorer|3.2.5|sha512-gM9UwD0PcOHe+XrRY2YMIV4pUrDIfV0YBQ5kQUZxk0BuVvZO9xk06XFv5plBKDAwtxbsuq+nET4i9FJCiYev2g==|dist/index.umd.js:plugin-explorer.umd.js dist/style.css:plugin-explorer.css package.json:package.plugin-explorer.json"
)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo_root/api/static/graphiql/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

staged="$work/staged"
mkdir -p "$staged"
packages_table=""
files_table=""

for entry in "${PACKAGES[@]}"; do
  IFS="|" read -r name version integrity files <<<"$entry"
  unpacked="$work/unpacked/$name"
  mkdir -p "$unpacked"
  # --ignore-scripts: packing a registry spec must never run package code.
  tarball="$(cd "$work" && npm pack --silent --ignore-scripts "${name}@${version}" 2>/dev/null | tail -n 1)"
  if [[ ! -f "$work/$tarball" ]]; then
    echo "vendor-graphiql: npm pack ${name}@${version} produced no tarball" >&2
    exit 1
  fi
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w 0)"
  if [[ "$actual" != "$integrity" ]]; then
    echo "vendor-graphiql: integrity mismatch for ${name}@${version}" >&2
    echo "  expected $integrity" >&2
    echo "  actual   $actual" >&2
    exit 1
  fi
  members=()
  for file in $files; do
    members+=("package/${file%%:*}")
  done
  # Extract only the members we ship (npm tarballs put everything under package/).
  tar -xzf "$work/$tarball" -C "$unpacked" --no-same-owner --no-same-permissions "${members[@]}"
  for file in $files; do
    source="${file%%:*}"
    target="${file#*:}"
    install -m 0644 "$unpacked/package/$source" "$staged/$target"
    digest="$(sha256sum "$staged/$target" | cut -d ' ' -f 1)"
    files_table+="| \`${target}\` | \`${name}\` | \`${source}\` | \`${digest}\` |"$'\n'
  done
  packages_table+="| \`${name}\` | **${version}** | \`${integrity}\` |"$'\n'
  rm -f "$work/$tarball"
done

# Replace the directory's content only once every package has passed its check.
rm -rf "$dest"
mkdir -p "$dest"
cp "$staged"/* "$dest/"

cat > "$dest/README.md" <<README
# Vendored: GraphiQL, its explorer plugin and React

GET /graphql in a browser (outside production) serves our own page,
\`api/static/graphiql/index.html\`, which loads these files from the app itself, under a strict
Content-Security-Policy, so the playground works with no internet access. They are vendored —
not built — so the page needs no build step. All four packages are MIT-licensed;
\`@graphiql/plugin-explorer\` ships no LICENSE file, so its \`package.json\` (which declares
\`"license": "MIT"\`) is kept: it comes from the graphql/graphiql repository, whose licence is
\`LICENSE.graphiql\`.

| package | version | npm tarball integrity |
|---|---|---|
${packages_table}
| file | package | from the package | sha256 |
|---|---|---|---|
${files_table}
Do not edit these files by hand. To re-vendor (or move to other releases), edit the versions
and integrities (from \`npm view <package>@<version> dist.integrity\`) in
\`scripts/vendor-graphiql.sh\` and run it; it refuses a tarball whose sha512 does not match and
rewrites this directory and this README. \`tests/test_graphiql_page.py\` checks the sha256
values above; \`tests/test_graphiql_e2e.py\` runs the page in Chromium with the network cut off.
README

echo "vendored into ${dest#"$repo_root"/}:"
printf '%s' "$files_table" | awk -F'|' '{ gsub(/[ `]/, "", $2); gsub(/[ `]/, "", $5); printf "  %-32s sha256 %s\n", $2, $5 }'
