#!/usr/bin/env bash
# timeout: 60
# src/ has no import cycle: the module graph from `crate::` and `super::` paths
# (scripts/module-graph.py) must be acyclic. Takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 scripts/module-graph.py
