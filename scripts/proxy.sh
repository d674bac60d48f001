#!/usr/bin/env bash
# `just proxy …` recipes, mapped onto the CLI:
#   create <hostname> <upstream> [cert_name] [https_redirect] [token]
#   delete <hostname> [token]      list [token]      show <hostname> [token]
set -euo pipefail
here=$(dirname "$0")
usage() { echo "usage: just proxy $1" >&2; exit 2; }
action=${1:-}
shift || true
token=""
case "$action" in
  create)
    [ $# -ge 2 ] && [ $# -le 5 ] || usage "create <hostname> <upstream> [cert_name] [https_redirect] [token]"
    args=(proxy create "$1" "$2")
    [ -n "${3:-}" ] && args+=(--cert "$3")
    case "${4:-true}" in
      true | "") ;;
      false) args+=(--no-https-redirect) ;;
      *) echo "just proxy: 'https_redirect' must be true or false, got '$4'" >&2; exit 2 ;;
    esac
    token=${5:-}
    ;;
  delete | show)
    [ $# -ge 1 ] && [ $# -le 2 ] || usage "$action <hostname> [token]"
    args=(proxy "$action" "$1")
    token=${2:-}
    ;;
  list)
    [ $# -le 1 ] || usage "list [token]"
    args=(proxy list)
    token=${1:-}
    ;;
  *)
    usage "create|delete|list|show …"
    ;;
esac
[ -n "$token" ] && args+=(--token "$token")
exec "$here/certgate.sh" "${args[@]}"
