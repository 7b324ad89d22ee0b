#!/usr/bin/env bash
# Sets up kbert on a fresh machine: a virtual environment in .venv with the pinned dependencies.
# `bash setup.sh` installs what training and the app need; `bash setup.sh --dev` adds what the tests need.
set -euo pipefail
cd "$(dirname "$0")"

requirements=requirements.txt
if [[ "${1:-}" == "--dev" ]]; then
  requirements=requirements-dev.txt
  # The browser test drives Debian's Chromium (Playwright's own browser download is not reachable here);
  # the font draws Chinese in its screenshots.
  if [[ ! -x /usr/bin/chromium ]] && command -v apt-get >/dev/null; then
    sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r "$requirements"
.venv/bin/python -m pip install --quiet --no-deps --editable .
