#!/usr/bin/env bash
# Regenerates the committed Go client code in examples/go/gen from proto/
# with buf generate (buf.gen.yaml), using the pinned tools of go_tools.sh.
# Usage: scripts/gen_go.sh [OUT_BASE]   (default: the repo root)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(scripts/go_tools.sh)
out=${1:-.}
rm -rf "$out/examples/go/gen"
PATH="$bin:$PATH" "$bin/buf" generate --template buf.gen.yaml -o "$out"
