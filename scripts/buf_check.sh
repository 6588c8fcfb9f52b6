#!/usr/bin/env bash
# Checks the gRPC contract in proto/:
#   1. buf lint, STANDARD plus COMMENTS (buf.yaml lists any exception and why);
#   2. buf breaking against the previous commit's proto: HEAD~1, or HEAD when
#      proto/ has uncommitted changes (the change being made is what is checked);
#   3. the committed Go code in examples/go/gen is what proto/ generates.
# Skips, saying why, when go (which builds buf) is absent; skips only step 2,
# saying why, outside git, on the first commit or in a clone too shallow to
# hold the previous commit.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
    echo "buf_check: SKIPPED: go not found on PATH (buf and the Go plugins are built with go install)"
    exit 0
fi
bin=$(scripts/go_tools.sh)
buf="$bin/buf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "buf_check: buf lint"
"$buf" lint

if ! git rev-parse --git-dir >/dev/null 2>&1; then
    echo "buf_check: buf breaking SKIPPED: not a git checkout"
else
    ref=HEAD~1
    if [[ -n "$(git status --porcelain -- proto)" ]]; then
        ref=HEAD
    fi
    if ! git rev-parse -q --verify "$ref^{commit}" >/dev/null; then
        if [[ "$(git rev-parse --is-shallow-repository)" == true ]]; then
            echo "buf_check: buf breaking SKIPPED: shallow clone has no $ref (git fetch --deepen=1 to check)"
        else
            echo "buf_check: buf breaking SKIPPED: $ref does not exist (first commit)"
        fi
    elif ! git cat-file -e "$ref:proto" 2>/dev/null; then
        echo "buf_check: buf breaking SKIPPED: $ref has no proto/"
    else
        echo "buf_check: buf breaking against $ref ($(git rev-parse --short "$ref"))"
        git archive "$ref" proto | tar -x -C "$tmp"
        "$buf" breaking --against "$tmp/proto"
    fi
fi

echo "buf_check: examples/go/gen is fresh"
scripts/gen_go.sh "$tmp/gen" >/dev/null
if ! diff -r "$tmp/gen/examples/go/gen" examples/go/gen; then
    echo "buf_check: examples/go/gen is stale; run scripts/gen_go.sh and commit it" >&2
    exit 1
fi
echo "buf_check: OK"
