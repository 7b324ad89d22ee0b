#!/usr/bin/env bash
# Sets up kbert on a fresh machine: a virtual environment in .venv with the pinned dependencies.
# `bash setup.sh` installs what training and the app need; `bash setup.sh --dev` adds what the tests need.
set -euo pipefail
cd "$(dirname "$0")"

requirements=requirements.txt
# System packages (Debian's names), installed where apt-get is and they are missing: the libraries Qt WebEngine needs
# for `python -m ui --desktop`, and a font that draws Chinese.
packages=(libnss3 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
          libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxcomposite1 libxdamage1 libxrandr2 libxtst6 libxkbfile1
          libasound2 libegl1 libgl1 libgbm1 libfontconfig1 libdbus-1-3 fonts-wqy-zenhei)
if [[ "${1:-}" == "--dev" ]]; then
  requirements=requirements-dev.txt
  # The browser tests drive Debian's Chromium (Playwright's own browser download is not reachable here); the
  # desktop test draws the window on Xvfb's virtual screen.
  packages+=(chromium xvfb)
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if (( ${#missing[@]} )) && command -v apt-get >/dev/null; then
  sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r "$requirements"
.venv/bin/python -m pip install --quiet --no-deps --editable .
