"""The committed generated code matches proto/ (run `make proto` when this fails)."""

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
        assert path.read_text() == (committed / path.name).read_text(), (
            f"{path.name} is stale: run make proto"
        )
    assert {p.name for p in fresh} == {
        p.name for p in committed.iterdir() if p.suffix in {".py", ".pyi"}
    }
