# certgate — `just run` starts an instance, `just test` runs every check CI runs.

set positional-arguments
set shell := ["bash", "-euo", "pipefail", "-c"]

# Build (release, with the committed profile: scripts/build-release.sh) and start certgate (and a
# local redis-server when nothing answers at REDIS_URL).
run:
    @scripts/run.sh

# Record the release build's profile again (pgo/certgate.profdata.gz) from the bench's loads on the
# code as it is, build with it and rewrite the hot-function list from that build (≈ 18 min).
release:
    @scripts/release.sh

# Formatting, clippy with -D warnings, and the whole test suite (needs redis-server, pebble, just;
# installs the OpenAPI fuzzer from PyPI when missing).
test:
    scripts/test-tools.sh
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings
    cargo test --all-targets

# The fast tier, for the edit-test loop: unit tests (paused time for deadlines, retry delays, the
# on-demand wait) and API and edge tests against certgate in the test's own process
# (tests/fast). Needs redis-server; the whole suite is `just test`.
test-fast:
    cargo test --lib
    cargo test --test fast

# Certificates: create <name> <domain> [staging] [email] [token] | delete <name> [force] [token]
#               | list [token] | show <name> [pem] [token] | status <name> [token] | renew <name> [token]
#               | revoke <name> [reason] [token]
cert action *args:
    @scripts/cert.sh "$@"

# API tokens (admin): create <name> | list | delete <name>
token action *args:
    @scripts/certgate.sh token "$@"

# Private keys at rest (admin): rotate [--batch N] re-wraps them under KEY_ENCRYPTION_KEYS' first key
keys action *args:
    @scripts/certgate.sh keys "$@"

# What the ACME CA offers: profiles [--staging] | accounts (admin)
acme action *args:
    @scripts/certgate.sh acme "$@"

# Routes: create <hostname> <upstream> [cert_name] [https_redirect] [token] | delete <hostname> [token]
#         | list [token] | show <hostname> [token]
proxy action *args:
    @scripts/proxy.sh "$@"

# Side-by-side benchmark against nginx, HAProxy and Caddy (installs them), plus micro-benchmarks.
bench:
    @benches/run.sh

# The module import graph: cycles (modgraph) and the layer order the unit test enforces.
layers:
    cargo test --lib layering -- --nocapture

# Rewrite config/example.toml and the README's settings table from src/config/settings.rs.
settings:
    UPDATE_GENERATED=1 cargo test --lib config::generated
