#!/usr/bin/env bash
# The release build of certgate, as `just run`, `just bench` and `just release` make it:
# `cargo build --release --bin certgate`, optimised with the committed profile of the bench's
# loads (pgo/certgate.profdata.gz, profile-guided optimisation: ≈ 23 % fewer instructions per
# proxied request) when that profile was recorded by this very rustc. A profile names functions
# by their mangled symbols, whose hashes change with the compiler version, so one from another
# rustc would guide nothing (and an older LLVM cannot read a newer profile): then the build goes
# on without it and says so. CERTGATE_PGO=0 builds without it too. `just release` records the
# profile again from the code as it is.
#
# certgate alone: built in one command with the examples, the shared crates would get the
# examples' dev-dependency features, which renames every function the profile knows.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=pgo/certgate.profdata.gz
recorded_by=pgo/rustc-version
flags=${RUSTFLAGS:-}

if [ "${CERTGATE_PGO:-1}" != 0 ] && [ -s "$profile" ] && [ -s "$recorded_by" ]; then
  if [ "$(rustc -V)" = "$(cat "$recorded_by")" ]; then
    # The path names the profile's content: cargo rebuilds when RUSTFLAGS change, not when a
    # file behind the same flags does. Unpacked once: rustc lists the profile among the build's
    # inputs, so a fresh copy (a new mtime) rebuilds everything (≈ 5 min) into the same binary.
    unpacked=$PWD/target/pgo-profile/certgate-$(sha256sum "$profile" | cut -c1-16).profdata
    if [ ! -s "$unpacked" ]; then
      mkdir -p "$(dirname "$unpacked")"
      gzip -dc "$profile" >"$unpacked.partial"
      mv "$unpacked.partial" "$unpacked"
    fi
    flags="$flags -Cprofile-use=$unpacked"
  else
    echo "build: $profile was recorded by $(cat "$recorded_by"), this is $(rustc -V):" \
      "building without it (\`just release\` records one for this compiler)" >&2
  fi
fi
RUSTFLAGS="$flags" exec cargo build --release --bin certgate "$@"
