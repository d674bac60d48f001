#!/usr/bin/env bash
# `just bench`: installs the anchors and load tools when missing (Debian packages), builds
# certgate and the bench tools (release), runs the side-by-side comparison and the SNI
# micro-benchmark. Loopback only. BENCH_RUNS, BENCH_SECONDS, BENCH_SCALE_CERTS tune it.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v caddy >/dev/null || need+=(caddy)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v curl >/dev/null || need+=(curl)
command -v redis-server >/dev/null || need+=(redis-server)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: installing ${need[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >&2
fi
[ "$(nproc)" -ge 2 ] || echo "bench: fewer than 2 CPUs; the pinned run shares one CPU" >&2
cargo build --release --quiet --bin certgate --example bench_upstream --example tls_load --example h3_load --example load_certs
python3 benches/bench.py
cargo bench --quiet --bench sni -- --noplot 2>/dev/null | grep -E "^sni_|time:" || cargo bench --bench sni
