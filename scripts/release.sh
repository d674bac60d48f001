#!/usr/bin/env bash
# `just release`: records the profile that optimises certgate's release build
# (pgo/certgate.profdata.gz, profile-guided optimisation; scripts/build-release.sh uses it for
# `just run` and `just bench`) from the code as it is, then builds target/release/certgate with
# it. Run it after a change to the request path, a dependency or the compiler: a profile guides
# only the functions that did not change since it was recorded, and only this rustc's build.
#
# Four steps: an instrumented build (target/pgo/gen), a training run under the bench's loads
# (certgate on CPU 0, the load on CPU 1), the merged profile to pgo/ and the release build made
# with it, then linker/hot-functions.txt written from that build and the binary linked again (a
# new profile inlines other functions, so the list's names have to come from its build).
# About 18 minutes on 2 cores. Needs llvm-profdata of rustc's own LLVM version (rustup's
# `llvm-tools` component, added when missing), h2load, redis-server and valgrind (installed when
# missing). Commit pgo/ and linker/ afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/target/pgo

need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v redis-server >/dev/null || need+=(redis-server)
command -v taskset >/dev/null || need+=(util-linux)
command -v valgrind >/dev/null || need+=(valgrind)
scripts/apt-install.sh release ${need[@]+"${need[@]}"}

profdata() { find "$(rustc --print sysroot)/lib/rustlib" -name llvm-profdata -type f 2>/dev/null | head -1; }
if [ -z "$(profdata)" ]; then
  echo "release: adding rustup's llvm-tools component (llvm-profdata)" >&2
  rustup component add llvm-tools >&2 ||
    { echo "release: llvm-profdata is missing: run 'rustup component add llvm-tools'" >&2; exit 1; }
fi
llvm_profdata=$(profdata)

rm -rf "$out/profiles" "$out/build-profiles"
mkdir -p "$out/profiles" "$out/build-profiles"

echo "release: 1/4 instrumented build (target/pgo/gen)" >&2
# certgate alone, in this and the last step: building examples in the same command unifies
# their dev-dependencies' features into the shared crates, which renames every function, and a
# profile whose names the optimised build does not have guides nothing. The load tools come
# from the plain release build. Build scripts and proc macros are instrumented too: their
# profiles go aside (build-profiles).
cargo build --release --quiet --example bench_upstream --example tls_load --example h3_load
LLVM_PROFILE_FILE="$out/build-profiles/%p.profraw" \
  RUSTFLAGS="-Cprofile-generate=$out/profiles" CARGO_TARGET_DIR="$out/gen" \
  cargo build --release --quiet --bin certgate

echo "release: 2/4 training under the bench's loads (log: target/pgo/train.log)" >&2
# The training is benches/ab.py's own measures run with the instrumented build: proxied
# HTTP/1.1 (32, 500 and 2,000 connections) and HTTP/2 (8x10, 64x10, 16x100), full and resumed
# handshakes, a burst of 1,500 RSA handshakes; one worker. The second run adds the sweep's
# widest points, where the pool grows and requests wait on their upstream connections.
train() { # settings for ab.py, NAME=value …
  env AB_BINARIES="train=$out/gen/release/certgate" AB_ROUNDS=1 "$@" python3 benches/ab.py >>"$out/train.log" 2>&1 ||
    { tail -20 "$out/train.log" >&2; echo "release: the training run failed (target/pgo/train.log)" >&2; exit 1; }
}
: >"$out/train.log"
train AB_MEASURES=h1,h2,h2wide,h1wide,hs,burst
train AB_MEASURES=h2wide,h1wide AB_H2WIDE=16x100 AB_H1WIDE=2000
ls "$out"/profiles/*.profraw >/dev/null 2>&1 ||
  { echo "release: the training run wrote no profile" >&2; exit 1; }
"$llvm_profdata" merge -o "$out/certgate.profdata" "$out"/profiles/*.profraw

echo "release: 3/4 the profile to pgo/, the optimised build (target/release/certgate)" >&2
# gzip -n: the same profile gives the same file (no name or time in the header). Functions the
# training never ran stay in the profile with zero counts: that is what compiles them as cold
# code (a profile without them, `merge --sparse`, gave a 3.7 MiB larger binary).
gzip -9 -n -c "$out/certgate.profdata" >pgo/certgate.profdata.gz
rustc -V >pgo/rustc-version
scripts/build-release.sh --quiet

echo "release: 4/4 linker/hot-functions.txt from this build, linked again" >&2
python3 scripts/hot-functions.py
scripts/build-release.sh --quiet
python3 scripts/hot-functions.py --check
echo "release: target/release/certgate, with pgo/ and linker/hot-functions.txt (commit them)" >&2
