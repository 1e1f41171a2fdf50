#!/usr/bin/env bash
# TorchServe 0.12 runs on the JVM and needs Java 17 or newer.
set -euo pipefail
if ! command -v java >/dev/null 2>&1; then
  echo "error: java not found. TorchServe needs Java 17+: install it, e.g." >&2
  echo "  sudo apt-get install openjdk-17-jre-headless   (Debian/Ubuntu)" >&2
  echo "  brew install openjdk@17                         (macOS)" >&2
  exit 1
fi
version=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
major=${version%%.*}
if [ "$major" = "1" ]; then major=$(echo "$version" | cut -d. -f2); fi
if [ "${major:-0}" -lt 17 ]; then
  echo "error: found Java $version; TorchServe needs Java 17+ (e.g. apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi
