"""The committed gRPC stubs are exactly what `make proto` makes from protos/, and the
migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tollgate.db import make_engine
from tollgate.db.models import Base
from tollgate.protogen import ROOT, generate, proto_files


def test_committed_stubs_match_the_protos(tmp_path: Path) -> None:
    generate(tmp_path)
    made = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*_pb2*.py*")}
    assert len(made) == 3 * len(proto_files())
    committed = {
        p.relative_to(ROOT): p.read_bytes() for p in (ROOT / "tollgate" / "v1").glob("*_pb2*.py*")
    }
    stale = sorted(str(path) for path in made if committed.get(path) != made[path])
    extra = sorted(str(path) for path in committed if path not in made)
    assert not stale, f"stubs out of date, run `make proto`: {stale}"
    assert not extra, f"stubs without a proto: {extra}"


def test_migrations_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; add a migration: {diff}"
