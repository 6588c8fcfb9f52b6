#!/usr/bin/env bash
# Installs the pinned Go-built tools of the contract checks into .tools/bin
# (git-ignored) with `go install` from the Go module proxy, unless the pinned
# version is already there, and prints that directory.
# Usage: scripts/go_tools.sh        (needs `go` on PATH; exits 2 without it)
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

if ! command -v go >/dev/null 2>&1; then
    echo "go_tools: go not found on PATH" >&2
    exit 2
fi
GOBIN="$PWD/.tools/bin"
export GOBIN

# ensure NAME PACKAGE VERSION EXPECTED: install PACKAGE@VERSION unless
# `NAME --version` already prints EXPECTED.
ensure() {
    local name=$1 package=$2 version=$3 expected=$4
    if [[ "$("$GOBIN/$name" --version 2>/dev/null)" != "$expected" ]]; then
        echo "go_tools: installing $package@$version" >&2
        go install "$package@$version" >&2
    fi
}

ensure buf github.com/bufbuild/buf/cmd/buf "$BUF_VERSION" "${BUF_VERSION#v}"
ensure protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION" \
    "protoc-gen-go $PROTOC_GEN_GO_VERSION"
ensure protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" \
    "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}"
echo "$GOBIN"
