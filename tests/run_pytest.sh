#!/usr/bin/env bash
# Run pytest; exit code 5 ("no tests collected") is a failure for CI, not a silent pass.
set -uo pipefail
python_bin="$1"; shift
"$python_bin" -m pytest "$@"
code=$?
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$code"
