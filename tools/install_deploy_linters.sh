#!/usr/bin/env bash
# Installs the deployment linters (cfn-lint, checkov, pip-audit) into their own virtualenv,
# .tools/deploy-lint, from the hash-pinned lock deploy/requirements-lint.txt. They live apart
# from .venv because checkov's large dependency tree must not constrain the services' uv.lock.
#
# Idempotent and fast when already done: the venv keeps a stamp of the lock's SHA-256 and is
# only re-synced when the lock changes (or the venv is missing or broken).
# Usage: tools/install_deploy_linters.sh    (then .tools/deploy-lint/bin/cfn-lint, .../checkov)
set -euo pipefail
cd "$(dirname "$0")/.."

lock=deploy/requirements-lint.txt
venv=.tools/deploy-lint
stamp=$venv/.requirements-lint.sha256
uv=.tools/bin/uv

want=$(sha256sum "$lock" | cut -d' ' -f1)
ready() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -x "$venv/bin/cfn-lint" ] && [ -x "$venv/bin/checkov" ] && [ -x "$venv/bin/pip-audit" ]
}
if ready; then exit 0; fi

mkdir -p .tools
# One installer at a time (two test runs starting together must not sync one venv twice).
exec 9>.tools/deploy-lint.install-lock
flock 9
if ready; then exit 0; fi

# uv itself comes from the Makefile's rule (one pinned version for the whole repository).
[ -x "$uv" ] || make --no-print-directory -s "$uv"

echo "installing cfn-lint and checkov into $venv from $lock" >&2
rm -f "$stamp"
[ -x "$venv/bin/python" ] || "$uv" venv --quiet --python 3.11 "$venv"
VIRTUAL_ENV=$PWD/$venv "$uv" pip sync --quiet --require-hashes --python "$venv/bin/python" "$lock"
"$venv/bin/cfn-lint" --version >/dev/null
"$venv/bin/checkov" --version >/dev/null
"$venv/bin/pip-audit" --version >/dev/null
echo "$want" > "$stamp"
