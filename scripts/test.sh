#!/usr/bin/env bash
# Install Coreset Studio with its test tools (and, as root on Debian, Chromium and the
# Fashion-MNIST files the tests use), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] && ! dpkg -s chromium chromium-driver dataset-fashion-mnist >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver dataset-fashion-mnist >/dev/null
fi
python3 -m pip install -q -e ".[dev]"
python3 -m pytest -q --durations=25 "$@"
