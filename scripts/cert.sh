#!/usr/bin/env bash
# The seed's `just cert …` recipes, mapped onto the CLI:
#   create <name> <domain> [staging] [email] [token]
#   delete <name> [force] [token]
#   list [token]
#   show <name> [pem] [token]
#   status <name> [token]    renew <name> [token]    dns-records <name> [token]
#   revoke <name> [reason] [token]   (reason: unspecified, keyCompromise, superseded,
#                                     cessationOfOperation; default unspecified)
# `domain` may be a comma-separated list; staging, force and pem are true/false.
# The issuer comes from CERTGATE_ISSUER (acme by default; self-signed for local names), the ACME
# challenge from CERTGATE_CHALLENGE (http-01 by default; tls-alpn-01, or dns-01 / dns-persist-01
# for wildcards).
set -euo pipefail
here=$(dirname "$0")
usage() { echo "usage: just cert $1" >&2; exit 2; }
bool() {
  case "${1:-false}" in
    true) return 0 ;;
    false | "") return 1 ;;
    *) echo "just cert: '$2' must be true or false, got '$1'" >&2; exit 2 ;;
  esac
}
action=${1:-}
shift || true
args=()
token=""
case "$action" in
  create)
    [ $# -ge 2 ] && [ $# -le 5 ] || usage "create <name> <domain> [staging] [email] [token]"
    args=(cert create "$1" "$2")
    if bool "${3:-false}" staging; then args+=(--staging); fi
    [ -n "${4:-}" ] && args+=(--email "$4")
    token=${5:-}
    ;;
  delete)
    [ $# -ge 1 ] && [ $# -le 3 ] || usage "delete <name> [force] [token]"
    args=(cert delete "$1")
    if bool "${2:-false}" force; then args+=(--force); fi
    token=${3:-}
    ;;
  list)
    [ $# -le 1 ] || usage "list [token]"
    args=(cert list)
    token=${1:-}
    ;;
  show)
    [ $# -ge 1 ] && [ $# -le 3 ] || usage "show <name> [pem] [token]"
    args=(cert show "$1")
    if bool "${2:-false}" pem; then args+=(--pem); fi
    token=${3:-}
    ;;
  status | renew | dns-records)
    [ $# -ge 1 ] && [ $# -le 2 ] || usage "$action <name> [token]"
    args=(cert "$action" "$1")
    token=${2:-}
    ;;
  revoke)
    [ $# -ge 1 ] && [ $# -le 3 ] || usage "revoke <name> [reason] [token]"
    args=(cert revoke "$1" --reason "${2:-unspecified}")
    token=${3:-}
    ;;
  *)
    usage "create|delete|list|show|status|renew|revoke|dns-records …"
    ;;
esac
[ -n "$token" ] && args+=(--token "$token")
exec "$here/certgate.sh" "${args[@]}"
