#!/usr/bin/env bash
# Installs the Debian packages the platform needs when they are missing: nginx, its brotli
# module, openssl (for the local self-signed certificate), Node.js with npm (the dashboard's
# bundle and the Socket.IO JavaScript client tests) and, with --required (make test), chromium
# for the browser tests and wrk for benchmarks.
# Usage: tools/ensure_system_packages.sh [--required]
#   --required: fail when they cannot be installed (make test); without it, warn (make run,
#   which then runs without the gateway).
set -euo pipefail
required=${1:-}
brotli=/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so
have_all() {
  { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } && [ -f "$brotli" ] \
    && command -v openssl >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
    && { [ "$required" != "--required" ] || { [ -x /usr/bin/chromium ] && command -v wrk >/dev/null 2>&1; }; }
}
if have_all; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing nginx, its brotli module and openssl with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # A policy-rc.d that says no keeps Debian from starting a system nginx on port 80.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  packages="nginx libnginx-mod-http-brotli-filter openssl"
  command -v npm >/dev/null 2>&1 || packages="$packages nodejs npm"
  if [ "$required" = "--required" ]; then
    [ -x /usr/bin/chromium ] || packages="$packages chromium"
    command -v wrk >/dev/null 2>&1 || packages="$packages wrk"
  fi
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi
if ! have_all; then
  if [ "$required" = "--required" ]; then
    echo "nginx with its brotli module, openssl, npm, chromium and wrk are required and could not be installed (need root and apt-get)." >&2
    exit 1
  fi
  echo "nginx (with brotli) is not installed: the platform will run without its gateway." >&2
fi
