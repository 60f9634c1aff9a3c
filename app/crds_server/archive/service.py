"""The dataset-parameter service interface, and its SQLite STAND-IN.

The real CRDS servers ask the archive (DADSOPS for HST, the JWST archive's parameter
service) for dataset ids and matching parameters.  That service does not exist
here, so :class:`StandInDatasetService` plays it from a local SQLite database that
:func:`crds_server.archive.synthetic.generate_datasets` fills.  Both speak
:class:`DatasetService`, which is what the server's ``get_dataset_ids`` /
``get_dataset_headers_by_id`` RPCs and the affected-datasets engine call.

Dataset ids are the crds client's two-part compound ids, upper case:
``"PRODUCT:EXPOSURE"`` (HST ``J8BT05010:J8BT05NJQ`` for an association member,
``IBEO66RPQ:IBEO66RPQ`` for an unassociated exposure; JWST
``JW01024001001_02101_00001.MIRIMAGE:JW01024001001_02101_00001.MIRIMAGE``).

Stand-in database layout (one observatory per file)::

    meta(key, value)                      observatory, date_keys (JSON), generator facts
    param_sets(id, instrument, params)    distinct non-date matching parameters (JSON)
    datasets(dataset_id PK, product_id, instrument, exptime, date_value, time_value,
             param_set)                   WITHOUT ROWID; index (instrument, exptime)

``exptime`` is ``"<date_value> <time_value>"``: the string ``crds.matches.get_exptime``
derives from a header, so ``since`` filters here select exactly what crds's own
``--datasets-since`` filter keeps.
"""

from __future__ import annotations

import abc
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

NOT_FOUND = "NOT FOUND dataset parameters"  # error value for an unknown id (contract §2)
_CHUNK = 900  # ids per IN (...) query; under SQLite's historical 999-variable limit

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS param_sets (
    id INTEGER PRIMARY KEY,
    instrument TEXT NOT NULL,
    params TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    instrument TEXT NOT NULL,
    exptime TEXT NOT NULL,
    date_value TEXT NOT NULL,
    time_value TEXT NOT NULL,
    param_set INTEGER NOT NULL REFERENCES param_sets(id)
) WITHOUT ROWID;
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS datasets_instrument_exptime ON datasets (instrument, exptime);
CREATE INDEX IF NOT EXISTS datasets_product ON datasets (product_id);
"""


class DatasetService(abc.ABC):
    """What CRDS needs from an archive's dataset-parameter service."""

    observatory: str

    @abc.abstractmethod
    def instruments(self) -> list[str]:
        """Instrument names (lower case) that have datasets."""

    @abc.abstractmethod
    def count(self, instrument: str | None = None) -> int:
        """Number of datasets (of `instrument`, or all)."""

    @abc.abstractmethod
    def dataset_ids(self, instrument: str, since: str | None = None) -> list[str]:
        """Sorted ``PRODUCT:EXPOSURE`` ids of `instrument` whose exposure start
        ("YYYY-MM-DD HH:MM:SS" string order) is >= `since` (all when None)."""

    @abc.abstractmethod
    def headers_by_id(self, ids: Iterable[str]) -> dict[str, dict | str]:
        """``{"PRODUCT:EXPOSURE": {KEY: value}}`` for `ids`, as the crds contract's
        get_dataset_headers_by_id returns; an unknown id maps to an error string.
        A one-part id is a product id (association or unassociated exposure) and
        expands to all its compound ids."""


class StandInDatasetService(DatasetService):
    """STAND-IN for the archive's dataset-parameter service: a local SQLite file.

    Not the archive: the data are synthetic (see crds_server.archive.synthetic)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no stand-in dataset database at {self.path}")
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                   check_same_thread=False)
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        self.meta = meta
        self.observatory = meta["observatory"]
        self.date_keys = tuple(json.loads(meta["date_keys"]))
        self._params: dict[int, tuple[str, dict]] = {
            pid: (instr, json.loads(text))
            for pid, instr, text in self._db.execute(
                "SELECT id, instrument, params FROM param_sets")}

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StandInDatasetService:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- DatasetService
    def instruments(self) -> list[str]:
        return sorted({instr for instr, _p in self._params.values()})

    def count(self, instrument: str | None = None) -> int:
        if instrument is None:
            return self._db.execute("SELECT count(*) FROM datasets").fetchone()[0]
        return self._db.execute("SELECT count(*) FROM datasets WHERE instrument = ?",
                                (instrument.lower(),)).fetchone()[0]

    def dataset_ids(self, instrument: str, since: str | None = None) -> list[str]:
        if since is None:
            rows = self._db.execute(
                "SELECT dataset_id FROM datasets WHERE instrument = ? ORDER BY dataset_id",
                (instrument.lower(),))
        else:
            rows = self._db.execute(
                "SELECT dataset_id FROM datasets WHERE instrument = ? AND exptime >= ? "
                "ORDER BY dataset_id", (instrument.lower(), str(since)))
        return [r[0] for r in rows]

    def headers_by_id(self, ids: Iterable[str]) -> dict[str, dict | str]:
        wanted = [str(i).upper() for i in ids]
        two_part = [i for i in wanted if ":" in i]
        one_part = [i for i in wanted if ":" not in i]
        out: dict[str, dict | str] = {}
        for row in self._rows("dataset_id", two_part):
            out[row[0]] = self._header(row)
        for row in self._rows("product_id", one_part):
            out[row[0]] = self._header(row)
        products = {key.split(":")[0] for key in out}
        for i in one_part:
            if i not in products:
                out[i] = f"{NOT_FOUND} for {i!r}"
        for i in two_part:
            out.setdefault(i, f"{NOT_FOUND} for {i!r}")
        return out

    # -- more than the interface: bulk iteration for generators and tests
    def iter_headers(self, instrument: str | None = None) -> Iterator[tuple[str, dict]]:
        """(id, header) for every dataset (of `instrument`), in id order."""
        if instrument:
            rows = self._db.execute(
                "SELECT dataset_id, date_value, time_value, param_set FROM datasets "
                "WHERE instrument = ? ORDER BY dataset_id", (instrument.lower(),))
        else:
            rows = self._db.execute(
                "SELECT dataset_id, date_value, time_value, param_set FROM datasets "
                "ORDER BY dataset_id")
        for row in rows:
            yield row[0], self._header(row)

    def _rows(self, column: str, ids: list[str]) -> Iterator[tuple]:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(
                f"SELECT dataset_id, date_value, time_value, param_set FROM datasets "  # noqa: S608
                f"WHERE {column} IN ({marks})", chunk)

    def _header(self, row: tuple) -> dict:
        _instr, params = self._params[row[3]]
        header = dict(params)
        header[self.date_keys[0]] = row[1]
        header[self.date_keys[1]] = row[2]
        return header


def create_database(path: Path | str, observatory: str, date_keys: tuple[str, str],
                    param_sets: list[tuple[int, str, dict]],
                    rows: Iterable[tuple[str, str, str, str, str, str, int]],
                    meta: dict | None = None) -> None:
    """Write a stand-in database: `param_sets` (id, instrument, params) and dataset
    `rows` (dataset_id, product_id, instrument, exptime, date, time, param_set),
    all in one transaction (replaces an existing file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    try:
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.executescript(SCHEMA)
        with db:
            info = {"observatory": observatory, "date_keys": json.dumps(list(date_keys)),
                    "kind": "STAND-IN for the archive dataset-parameter service",
                    **{k: v if isinstance(v, str) else json.dumps(v)
                       for k, v in (meta or {}).items()}}
            db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(info.items()))
            db.executemany("INSERT INTO param_sets VALUES (?, ?, ?)",
                           [(pid, instr, json.dumps(params, sort_keys=True))
                            for pid, instr, params in param_sets])
            db.executemany("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        db.executescript(INDEXES)
        db.execute("ANALYZE")
        db.commit()
    finally:
        db.close()
    tmp.replace(path)
