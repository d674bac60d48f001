#!/usr/bin/env bash
# Runs the certgate CLI: $CERTGATE_BIN when set (tests), else the release build (built on demand).
# With no token given, falls back to CERTGATE_TOKEN, ADMIN_TOKEN, then the token `just run` saved.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${CERTGATE_BIN:-}
if [ -z "$bin" ]; then
  "$repo/scripts/build-release.sh" --quiet >&2
  bin=$repo/target/release/certgate
fi
token_file=${CERTGATE_TOKEN_FILE:-${XDG_CONFIG_HOME:-$HOME/.config}/certgate/admin-token}
if [ -z "${CERTGATE_TOKEN:-}" ] && [ -z "${ADMIN_TOKEN:-}" ] && [ -r "$token_file" ]; then
  CERTGATE_TOKEN=$(cat "$token_file")
  export CERTGATE_TOKEN
fi
exec "$bin" "$@"
