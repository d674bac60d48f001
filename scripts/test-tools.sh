#!/usr/bin/env bash
# Installs the test tools the tests need beyond what they start themselves: from PyPI the OpenAPI
# fuzzer (schemathesis), the gRPC test's stock client and server (grpcio), h2 and Selenium; from
# Debian Chromium and its driver for the dashboard test. Quiet when they are already there.
set -euo pipefail
if ! python3 -c 'import schemathesis' 2>/dev/null; then
  echo "test-tools: installing schemathesis (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
if ! python3 -c 'import grpc' 2>/dev/null; then
  echo "test-tools: installing grpcio (PyPI), the stock gRPC client and server of the gRPC test"
  python3 -m pip install --quiet --disable-pip-version-check 'grpcio>=1.60,<2'
fi
# The dashboard test drives Debian's Chromium through Selenium; the dns-01 PowerDNS test runs a
# real PowerDNS Authoritative with its sqlite backend; the dns-01 exec test's script updates BIND
# with nsupdate (bind9-dnsutils).
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v pdns_server >/dev/null || need+=(pdns-server)
[ -f /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql ] || need+=(pdns-backend-sqlite3)
command -v nsupdate >/dev/null || need+=(bind9-dnsutils)
"$(dirname "$0")/apt-install.sh" test-tools ${need[@]+"${need[@]}"}
if ! python3 -c 'import selenium' 2>/dev/null; then
  echo "test-tools: installing selenium (PyPI), which drives Chromium in the dashboard test"
  python3 -m pip install --quiet --disable-pip-version-check 'selenium>=4.10,<5'
fi
# The compression test decodes certgate's zstd and brotli answers with the reference decoders.
if ! python3 -c 'import zstandard, brotli' 2>/dev/null; then
  echo "test-tools: installing zstandard and brotli (PyPI), the compression test's decoders"
  python3 -m pip install --quiet --disable-pip-version-check 'zstandard>=0.22' 'brotli>=1.1'
fi
# The request-id test's HTTP/2 upstream (tests/tools/h2c_headers.py) reports how each header
# came over the wire with the h2 package's HPACK decoder.
if ! python3 -c 'import h2, hpack, hyperframe' 2>/dev/null; then
  echo "test-tools: installing h2 (PyPI), the HPACK-reporting upstream of the request-id test"
  python3 -m pip install --quiet --disable-pip-version-check 'h2>=4.1,<5'
fi
# The HTTP/3 tests drive certgate with aioquic's HTTP/3 client (tests/tools/h3_client.py).
if ! python3 -c 'import aioquic' 2>/dev/null; then
  echo "test-tools: installing aioquic (PyPI), the HTTP/3 tests' client"
  python3 -m pip install --quiet --disable-pip-version-check 'aioquic>=1.2,<2'
fi
