#!/usr/bin/env bash
# Installs what a fresh machine lacks, by running every scripts/deps.d/*.sh in order.
# Each part is idempotent and quick when its tools are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
for part in scripts/deps.d/*.sh; do
  [ -e "$part" ] || continue
  bash "$part"
done
