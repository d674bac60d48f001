#!/usr/bin/env bash
# Installs the test tools that are not Debian packages the tests start themselves: the OpenAPI
# fuzzer (schemathesis, from PyPI). Quiet when they are already there.
set -euo pipefail
if ! python3 -c 'import schemathesis' 2>/dev/null; then
  echo "test-tools: installing schemathesis (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
