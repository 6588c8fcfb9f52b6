"""Generate the Python protobuf/gRPC code in service/qsession/v1 from proto/, and the
descriptor set the server's reflection serves.

Usage: python scripts/gen_protos.py [OUT_DIR]   (default: service)
The generated code is committed; tests/unit/test_proto_fresh.py fails when it is stale.

``descriptor_set.binpb`` is a FileDescriptorSet of every qsession.v1 file and its imports,
with source info: the generated ``*_pb2.py`` modules drop the proto comments, so reflection
served from them would describe the contract without its documentation. The server loads
this set into the descriptor pool it hands to grpcio-reflection, so ``grpcurl describe``
shows every comment.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
DESCRIPTOR_SET = "descriptor_set.binpb"


def generate(out_dir: Path) -> list[Path]:
    """Run protoc over every .proto file; return the generated files."""
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    package_dir = out_dir / "qsession" / "v1"
    package_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--descriptor_set_out={package_dir / DESCRIPTOR_SET}",
        "--include_source_info",
        "--include_imports",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    init = package_dir / "__init__.py"
    init.write_text(
        '"""Generated protobuf and gRPC code for qsession.v1 (do not edit; run `make proto`)."""\n'
    )
    return sorted(p for p in package_dir.iterdir() if p.suffix in GENERATED_SUFFIXES)


GENERATED_SUFFIXES = {".py", ".pyi", ".binpb"}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "service"
    for path in generate(target):
        print(path.relative_to(target))
