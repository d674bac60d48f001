#!/usr/bin/env bash
# `just bench`: installs the anchors and load tools when missing (Debian packages), builds
# certgate and the bench tools (release), runs the side-by-side comparison and the SNI
# micro-benchmark. Loopback only. BENCH_RUNS, BENCH_SECONDS, BENCH_SCALE_CERTS tune it.
# BENCH_PLAIN=1 also builds certgate without the committed profile (CERTGATE_PGO=0, ≈ 4 min) and
# puts it in the sweep beside the profile-guided build, as certgate-plain.
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
scripts/apt-install.sh bench ${need[@]+"${need[@]}"}
[ "$(nproc)" -ge 2 ] || echo "bench: fewer than 2 CPUs; the pinned run shares one CPU" >&2
# certgate on its own, as `just run` builds it (scripts/build-release.sh says why).
if [ "${BENCH_PLAIN:-}" = 1 ]; then
  CERTGATE_PGO=0 scripts/build-release.sh --quiet
  mkdir -p target/plain
  cp target/release/certgate target/plain/certgate
  export BENCH_PLAIN_BINARY="$PWD/target/plain/certgate"
fi
scripts/build-release.sh --quiet
python3 scripts/hot-functions.py --check
cargo build --release --quiet --example bench_upstream --example tls_load --example h3_load --example load_certs
python3 benches/bench.py
cargo bench --quiet --bench sni -- --noplot 2>/dev/null | grep -E "^sni_|time:" || cargo bench --bench sni
# `cargo bench` builds the certgate binary too (without the profile: RUSTFLAGS differ) and links
# it to target/release/certgate; the profile-guided one is still built, so this links it back
# at once, for `just run` and for whatever measures target/release/certgate next.
scripts/build-release.sh --quiet
