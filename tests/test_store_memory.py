"""DuckDB's memory limit follows TVM_MEMORY_LIMIT_MB on every store connection."""

from __future__ import annotations

import duckdb

from tvmdata import store
from tvmdata.config import Settings


def memory_limit_of(settings: Settings) -> str:
    with store.open_store(settings) as con:
        return con.execute("select current_setting('memory_limit')").fetchone()[0]


def default_limit(tmp_path) -> str:
    with duckdb.connect(str(tmp_path / "plain.duckdb")) as con:
        return con.execute("select current_setting('memory_limit')").fetchone()[0]


def test_the_store_keeps_duckdb_under_the_configured_limit(tmp_path):
    settings = Settings(db=tmp_path / "tvm.duckdb", memory_limit_mb=300)

    limit = memory_limit_of(settings)

    assert limit != default_limit(tmp_path)
    assert limit == f"{300 * 1000**2 / 2**20:.1f} MiB"


def test_a_limit_of_zero_leaves_duckdb_its_own_default(tmp_path):
    settings = Settings(db=tmp_path / "tvm.duckdb", memory_limit_mb=0)

    assert memory_limit_of(settings) == default_limit(tmp_path)
