#!/usr/bin/env bash
# Rebuilds the vendored front-end bundles from the pinned npm packages:
#   static/vendor/yjs/{yjs-bundle.mjs,LICENSES.txt,README.md}
#   tests/interop/{yclient.cjs,LICENSES.txt}
# Usage: tools/frontend/build.sh          rebuild and overwrite the committed files
#        tools/frontend/build.sh --check  rebuild into a temp dir, fail if the committed files differ
# Needs node >= 18 and the npm registry; `make run` and the tests never need either.
set -euo pipefail
cd "$(dirname "$0")"
# npm ci installs exactly package-lock.json; --ignore-scripts because nothing here needs an
# install script (esbuild's binary comes from its @esbuild/<platform> package).
npm ci --ignore-scripts --no-audit --no-fund
node build.mjs "$@"
