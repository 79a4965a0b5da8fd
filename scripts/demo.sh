#!/usr/bin/env bash
# Set up, then grade the bundled demo class into reports/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/grade submissions/ "$@"
