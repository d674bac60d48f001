#!/usr/bin/env bash
# `just run`: builds certgate (release, profile-guided: scripts/build-release.sh), makes sure
# Redis answers at REDIS_URL (installing and starting a local redis-server when nothing does),
# and runs `certgate serve`.
#
# The local Redis keeps its dump outside the repository (it holds private keys):
# $CERTGATE_REDIS_DIR, default ~/.local/state/certgate/redis, mode 0700.
# With ADMIN_TOKEN unset, a token is generated once and kept in ~/.config/certgate/admin-token
# (mode 0600) so that `just cert …` works from another terminal.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
hostport=${REDIS_URL#*://}
hostport=${hostport#*@}
hostport=${hostport%%/*}
host=${hostport%:*}
port=${hostport##*:}
[ "$port" = "$hostport" ] && port=6379

redis_answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

if ! redis_answers; then
  case "$host" in
    127.0.0.1 | localhost) ;;
    *) echo "run: nothing answers at REDIS_URL=$REDIS_URL and it is not local; start Redis there" >&2; exit 1 ;;
  esac
  command -v redis-server >/dev/null || "$(dirname "$0")/apt-install.sh" run redis-server
  redis_dir=${CERTGATE_REDIS_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/certgate/redis}
  mkdir -p "$redis_dir"
  chmod 700 "$redis_dir"
  echo "run: starting redis-server on 127.0.0.1:$port (data in $redis_dir)" >&2
  redis-server --port "$port" --bind 127.0.0.1 --dir "$redis_dir" --daemonize yes \
    --logfile "$redis_dir/redis.log" --pidfile "$redis_dir/redis.pid"
  for _ in $(seq 1 50); do redis_answers && break; sleep 0.1; done
  redis_answers || { echo "run: redis-server did not start; see $redis_dir/redis.log" >&2; exit 1; }
fi

if [ -z "${ADMIN_TOKEN:-}" ]; then
  token_file=${CERTGATE_TOKEN_FILE:-${XDG_CONFIG_HOME:-$HOME/.config}/certgate/admin-token}
  if [ ! -s "$token_file" ]; then
    mkdir -p "$(dirname "$token_file")"
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | sed 's/^/cg_/' >"$token_file")
    echo "run: generated an admin token in $token_file (the just recipes use it)" >&2
  fi
  ADMIN_TOKEN=$(cat "$token_file")
  export ADMIN_TOKEN
fi

scripts/build-release.sh
exec "$repo/target/release/certgate" serve "$@"
