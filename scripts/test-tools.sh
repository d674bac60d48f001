#!/usr/bin/env bash
# Installs the test tools that are not Debian packages the tests start themselves: the OpenAPI
# fuzzer (schemathesis) and the gRPC test's stock client and server (grpcio), from PyPI. Quiet
# when they are already there.
set -euo pipefail
if ! python3 -c 'import schemathesis' 2>/dev/null; then
  echo "test-tools: installing schemathesis (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
if ! python3 -c 'import grpc' 2>/dev/null; then
  echo "test-tools: installing grpcio (PyPI), the stock gRPC client and server of the gRPC test"
  python3 -m pip install --quiet --disable-pip-version-check 'grpcio>=1.60,<2'
fi
