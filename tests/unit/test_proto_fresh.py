"""The committed generated code and descriptor set match proto/ (run `make proto` when this
fails)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_python_code_is_fresh(tmp_path):
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    fresh = gen.generate(tmp_path)
    committed = ROOT / "service" / "qsession" / "v1"
    for path in fresh:
        assert path.read_bytes() == (committed / path.name).read_bytes(), (
            f"{path.name} is stale: run make proto"
        )
    assert {p.name for p in fresh} == {
        p.name for p in committed.iterdir() if p.suffix in gen.GENERATED_SUFFIXES
    }


def test_descriptor_set_carries_the_proto_comments():
    """Reflection serves this set; without source info ``grpcurl describe`` shows no docs."""
    from google.protobuf import descriptor_pb2

    data = (ROOT / "service" / "qsession" / "v1" / "descriptor_set.binpb").read_bytes()
    files = {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(data).file}
    assert "qsession/v1/transpiler.proto" in files and "google/protobuf/timestamp.proto" in files
    comments = " ".join(
        location.leading_comments
        for location in files["qsession/v1/errors.proto"].source_code_info.location
    )
    assert "not an ISA circuit" in comments
