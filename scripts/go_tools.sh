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
GRPCURL_VERSION=v1.9.4  # tests/e2e/test_reflection.py runs `grpcurl describe`

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
# grpcurl built with go install reports no version ("dev build"): a marker file
# next to it records which version was installed.
if [[ "$(cat "$GOBIN/.grpcurl-version" 2>/dev/null)" != "$GRPCURL_VERSION" || ! -x "$GOBIN/grpcurl" ]]; then
    echo "go_tools: installing github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" >&2
    go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" >&2
    echo "$GRPCURL_VERSION" >"$GOBIN/.grpcurl-version"
fi
echo "$GOBIN"
