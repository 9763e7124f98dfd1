#!/usr/bin/env bash
# Installs the Debian packages the platform's gateway needs (nginx) when they are missing.
# Usage: tools/ensure_system_packages.sh [--required]
#   --required: fail when nginx cannot be installed (make test); without it, warn (make run,
#   which then runs without the gateway).
set -euo pipefail
required=${1:-}
have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
if have_nginx; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "nginx is missing: installing it with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps Debian from starting a system nginx on port 80 as it installs.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.helpdesk
  chmod +x /usr/sbin/policy-rc.d.helpdesk
  if [ ! -e /usr/sbin/policy-rc.d ]; then cp /usr/sbin/policy-rc.d.helpdesk /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi
  rm -f /usr/sbin/policy-rc.d.helpdesk
  apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi
if ! have_nginx; then
  if [ "$required" = "--required" ]; then
    echo "nginx is required and could not be installed (need root and apt-get)." >&2
    exit 1
  fi
  echo "nginx is not installed: the platform will run without its gateway." >&2
fi
