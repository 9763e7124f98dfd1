#!/usr/bin/env bash
# Builds the dashboard's scripts and stylesheet (esbuild) into
# helpdesk/dashboard/static/dashboard/build/, before collectstatic. Installs the exact
# package-lock.json from the npm registry first when node_modules is missing; nothing is
# downloaded at run time. Needs node >= 20 and npm.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null; then
  echo "build.sh: node and npm are required to build the dashboard's scripts" >&2
  exit 1
fi
if [ ! -x node_modules/.bin/esbuild ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
