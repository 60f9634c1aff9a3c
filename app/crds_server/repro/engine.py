"""Affected datasets between two contexts, computed by the crds library's bestrefs engine.

    from crds_server.archive import StandInDatasetService
    from crds_server.repro import affected_datasets
    result = affected_datasets(service, "hst_0005.pmap", "hst_0006.pmap", cache="/tmp/cache",
                               use="dev")

What runs is ``crds bestrefs --affected-datasets --old-context OLD --new-context NEW``
(``crds.bestrefs.BestrefsScript``): crds's ``diff.MappingDifferencer`` picks the
affected instruments and types, ``auto_datasets_since`` the per-instrument since
dates, and for each dataset ``BestrefsScript.process`` computes old and new best
references (``crds.getrecommendations``) for the affected types and compares them
with crds's own rules (N/A and undefined differences matter, errors in the new
context kill an update).  Only the header source is ours: dataset ids and headers
come from a :class:`~crds_server.archive.DatasetService` instead of the server RPCs.

``mode="grouped"`` (default) is the fast path: datasets whose lookups must give the
same answer are grouped and ``process`` runs once per group, on a representative
with its real header.  Two headers fall in the same group when they are equal except
for the UseAfter date/time keys, and their (crds-normalised) dates lie between the
same two consecutive UseAfter dates of the instrument's rmaps in both contexts (to the
second: useafter dates are whole seconds, so the fraction never matters).  For
an instrument whose rules could read the dates in any other way (selectors other than
Match/UseAfter, dates in match keys or relevance expressions, header hooks) or for a
header whose date is not in canonical form, only identical headers are grouped.
``mode="per-dataset"`` is crds's own loop over every dataset: the baseline.

Results: product ids (the part before ``:``, lower case) of every dataset with a
changed best reference and no error in the new context: one reprocessing suggestion
per line, as ``print_affected`` prints them.
"""

from __future__ import annotations

import bisect
import contextlib
import io
import re
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..archive.service import DatasetService
from .crdsenv import crds_cache

SEGMENT = 5000  # headers per service call (the server's max_headers_per_rpc is 1000-5000)
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?")
_WHOLE_SECOND = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def lookup_second(raw: str) -> str | None:
    """``crds.core.timestamp.reformat_date(raw)[:19]`` ("YYYY-MM-DD HH:MM:SS") for a
    canonical 'YYYY-MM-DD HH:MM:SS[.ffffff]' string, None for anything else or an invalid
    date.  UseAfter compares crds's normalised date with whole-second useafter dates, so
    the whole second decides the choice; crds computes the microseconds with float
    arithmetic, which this never needs.  Proven equal by tests/app/test_repro.py."""
    if not _CANONICAL.fullmatch(raw):
        return None
    try:
        datetime.fromisoformat(raw)
    except ValueError:
        return None
    return raw[:19]


class _NoBuckets(Exception):
    pass


class CasePlanner:
    """Group key for the headers of one instrument between two loaded contexts."""

    def __init__(self, contexts: list, instrument: str):
        self.instrument = instrument
        self.date_keys: tuple[str, ...] | None = None
        self.breakpoints: list[str] = []
        self.reason = ""
        try:
            self.date_keys, self.breakpoints = self._plan(contexts, instrument)
        except _NoBuckets as exc:
            self.reason = str(exc)
        except Exception as exc:  # e.g. the instrument is missing from one context
            self.reason = f"{type(exc).__name__}: {exc}"
        self._date_set = frozenset(self.date_keys or ())

    @staticmethod
    def _plan(contexts: list, instrument: str) -> tuple[tuple[str, ...], list[str]]:
        from crds.core import exceptions as crexc
        from crds.core import timestamp

        date_keys: tuple[str, ...] | None = None
        points: set[str] = set()
        for pmap in contexts:
            imap = pmap.get_imap(instrument)
            for filekind in list(imap.selections):
                try:
                    rmap = imap.get_rmap(filekind)
                except (crexc.IrrelevantReferenceTypeError, crexc.OmitReferenceTypeError):
                    continue
                where = rmap.basename
                classes = tuple(rmap.header.get("classes", ("Match", "UseAfter")))
                if classes != ("Match", "UseAfter") or len(rmap.parkey) != 2:
                    raise _NoBuckets(f"{where}: selectors {classes}")
                keys = tuple(str(k).upper() for k in rmap.parkey[1])
                if date_keys is None:
                    date_keys = keys
                elif keys != date_keys:
                    raise _NoBuckets(f"{where}: date keys {keys} != {date_keys}")
                matched = {str(k).upper() for k in rmap.parkey[0]}
                matched |= {str(k).upper() for k in rmap.get_extra_parkeys()}
                if matched & set(keys):
                    raise _NoBuckets(f"{where}: a date key is also matched")
                exprs = " ".join(str(rmap.header.get(name, "")) for name in (
                    "rmap_relevance", "rmap_omit", "parkey_relevance", "substitutions"))
                if any(k in exprs.upper() for k in keys):
                    raise _NoBuckets(f"{where}: a relevance expression reads a date key")
                if (rmap.get_hook("precondition_header", None) is not None
                        or rmap.get_hook("fallback_header", None) is not None):
                    raise _NoBuckets(f"{where}: header hooks")
                info = rmap.todict()
                if str(info["parameters"][-2]).upper() != "USEAFTER":
                    raise _NoBuckets(f"{where}: no USEAFTER column")
                for sel in info["selections"]:
                    raw = str(sel[-2])
                    if not _WHOLE_SECOND.fullmatch(raw) or timestamp.reformat_date(raw) != raw:
                        raise _NoBuckets(f"{where}: useafter {raw!r} is not a whole second")
                    points.add(raw)
        if date_keys is None:
            raise _NoBuckets("no rmaps")
        return date_keys, sorted(points)

    def key(self, header: dict) -> tuple:
        """Equal keys => crds's lookups give equal answers (see the module docstring)."""
        if self.date_keys is not None:
            values = [header.get(k) for k in self.date_keys]
            if all(isinstance(v, str) for v in values):
                second = lookup_second(" ".join(v.strip() for v in values))
                if second is not None:
                    rest = tuple(sorted(item for item in header.items()
                                        if item[0] not in self._date_set))
                    return (rest, bisect.bisect_right(self.breakpoints, second))
        return (tuple(sorted(header.items())), None)


@dataclass
class InstrumentStats:
    datasets: int = 0  # datasets evaluated (after the since filter)
    cases: int = 0  # bestrefs evaluations (groups)
    affected_datasets: int = 0
    affected_products: int = 0
    errors: int = 0  # datasets with errors
    types: dict[str, int] = field(default_factory=dict)  # filekind -> changed datasets
    dropped_by_since: int = 0
    grouping: str = ""  # "dates bucketed" or why not


@dataclass
class AffectedResult:
    observatory: str
    use: str
    old_context: str
    new_context: str
    started: datetime
    mode: str = "grouped"
    affected_ids: list[str] = field(default_factory=list)  # product ids, lower case, sorted
    affected_datasets: list[str] = field(default_factory=list)  # compound ids of changed exposures
    affected_types: dict[str, list[str]] = field(default_factory=dict)
    datasets_since: dict | str | None = None
    datasets: int = 0
    cases: int = 0
    errors: int = 0  # datasets with errors
    error_classes: dict[str, int] = field(default_factory=dict)  # first message -> datasets
    instruments: dict[str, InstrumentStats] = field(default_factory=dict)
    failure: str = ""
    log_text: str = ""
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return len(self.affected_ids)

    @property
    def disposition(self) -> str:
        if self.failure:
            return "FAILED"
        return "ERRORS" if self.errors else "OK"

    def summary(self) -> dict:
        return {
            "observatory": self.observatory, "use": self.use, "old": self.old_context,
            "new": self.new_context, "mode": self.mode, "disposition": self.disposition,
            "affected": self.count, "affected_datasets": len(self.affected_datasets),
            "datasets": self.datasets, "cases": self.cases, "errors": self.errors,
            "affected_types": self.affected_types, "seconds": round(self.seconds, 3),
            "instruments": {k: vars(v) for k, v in sorted(self.instruments.items())},
        }


def _bestrefs_script_class():
    from crds.bestrefs import BestrefsScript
    from crds.bestrefs import headers as crds_headers

    class ServiceHeaders(crds_headers.HeaderGenerator):
        """crds HeaderGenerator over a DatasetService (instead of the server RPCs)."""

        def __init__(self, context, service, instruments, datasets_since, only_ids):
            super().__init__(context, [], datasets_since)
            self.service = service
            self.by_instrument: dict[str, list[str]] = {}
            for instr in sorted(instruments):
                since = self.datasets_since(instr)
                ids = service.dataset_ids(instr, None if since is None else str(since))
                if only_ids is not None:
                    ids = [i for i in ids if i in only_ids]
                self.by_instrument[instr] = ids
            self.sources = sorted(i for ids in self.by_instrument.values() for i in ids)
            self._position = {s: n for n, s in enumerate(self.sources)}

        def _header(self, source):
            if source not in self.headers:  # per-dataset mode: fetch the surrounding segment
                start = self._position[source] // SEGMENT * SEGMENT
                self.headers = self.service.headers_by_id(self.sources[start:start + SEGMENT])
            return self.headers[source]

    class ServiceBestrefs(BestrefsScript):
        """`crds bestrefs` reading headers from a DatasetService."""

        def __init__(self, argv, service, only_ids):
            self._service = service
            self._only_ids = only_ids
            self.first_error: dict[str, str] = {}
            super().__init__(argv=argv, reset_log=True)

        def init_headers(self, context, datasets_since):
            return ServiceHeaders(context, self._service, self.instruments or [],
                                  datasets_since, self._only_ids)

        def log_and_track_error(self, dataset, *pars, **keys):
            from crds.core import log

            self.first_error.setdefault(dataset, log.format(*pars, **keys))
            super().log_and_track_error(dataset, *pars, **keys)

    return ServiceBestrefs


@contextlib.contextmanager
def _captured_log(echo: bool) -> Iterator[io.StringIO]:
    from crds.core import log

    buf = io.StringIO()
    handler = log.add_stream_handler(buf)
    had_console = log.THE_LOGGER.console is not None
    if not echo and had_console:
        log.remove_console_handler()
    try:
        yield buf
    finally:
        log.remove_stream_handler(handler)
        if not echo and had_console:
            log.add_console_handler()


def affected_datasets(service: DatasetService, old_context: str, new_context: str, *,
                      cache: Path | str | None = None, use: str = "dev",
                      mode: str = "grouped", only_ids: Iterable[str] | None = None,
                      datasets_since: str | None = None, echo: bool = False,
                      started: datetime | None = None) -> AffectedResult:
    """Datasets of `service` whose best references differ between the two contexts.

    `cache`: the CRDS cache (CRDS_PATH) holding both contexts, read offline; None uses
    the process's crds environment.  `only_ids`: restrict to these compound ids.
    `datasets_since`: override crds's automatic per-instrument since dates.
    Never raises for a failed run: the result's disposition is FAILED with the reason."""
    if mode not in ("grouped", "per-dataset"):
        raise ValueError("mode is 'grouped' or 'per-dataset'")
    obs = service.observatory
    result = AffectedResult(obs, use, old_context, new_context,
                            started or datetime.now(), mode=mode)
    t0 = time.perf_counter()
    only = None if only_ids is None else {str(i).upper() for i in only_ids}
    with crds_cache(cache, obs), _captured_log(echo) as buf:
        from crds.core import log

        try:
            _run(result, service, only, datasets_since)
        except (Exception, SystemExit) as exc:  # crds's fatal_error exits
            result.failure = f"{type(exc).__name__}: {exc}"
            log.error("Affected datasets run failed:", result.failure)
            log.verbose(traceback.format_exc())
        result.seconds = time.perf_counter() - t0
        log.info("Affected datasets", repr(old_context), "-->", repr(new_context), ":",
                 result.count, "products,", len(result.affected_datasets), "exposures of",
                 result.datasets, "datasets in", result.cases, "bestrefs cases,",
                 result.errors, "datasets with errors,", f"{result.seconds:.1f} s")
        result.log_text = buf.getvalue()
    return result


def _run(result: AffectedResult, service: DatasetService, only: set[str] | None,
         since_override: str | None) -> None:
    import crds
    from crds import matches
    from crds.core import log

    script_class = _bestrefs_script_class()
    argv = ["crds.bestrefs", "--affected-datasets", f"--{result.observatory}",
            "--old-context", result.old_context, "--new-context", result.new_context]
    if since_override:
        argv += ["--datasets-since", since_override]
    script = script_class(argv, service, only)
    if not script.complex_init():
        result.affected_types = {}
        return
    result.affected_types = {k: sorted(v) for k, v in script.affected_instruments.items()}
    result.datasets_since = script.new_headers._datasets_since
    gen = script.new_headers

    groups: dict[str, list[str]] = {}  # representative -> members
    rep_instr: dict[str, str] = {}
    stats = {instr: InstrumentStats() for instr in gen.by_instrument}
    if result.mode == "per-dataset":
        instr_of = {i: instr for instr, ids in gen.by_instrument.items() for i in ids}
        for dataset in gen:  # crds's HeaderGenerator.__iter__: since filter per dataset
            _process(script, dataset)
            groups[dataset] = [dataset]
            rep_instr[dataset] = instr_of[dataset]
        kept = Counter(rep_instr.values())
        for instr, st in stats.items():
            st.grouping = "none (per-dataset baseline)"
            st.dropped_by_since = len(gen.by_instrument[instr]) - kept[instr]
    else:
        contexts = [crds.get_pickled_mapping(result.old_context),
                    crds.get_pickled_mapping(result.new_context)]
        for instr, ids in gen.by_instrument.items():
            planner = CasePlanner(contexts, instr)
            st = stats[instr]
            st.grouping = (f"dates bucketed by {len(planner.breakpoints)} useafter dates"
                           if planner.date_keys else f"identical headers only ({planner.reason})")
            since = gen.datasets_since(instr)
            by_key: dict[tuple, str] = {}
            for start in range(0, len(ids), SEGMENT):
                segment = ids[start:start + SEGMENT]
                headers = service.headers_by_id(segment)
                for dataset in segment:
                    header = headers.get(dataset, f"missing from {type(service).__name__}")
                    if isinstance(header, str):
                        key: tuple = ("error", dataset)
                    else:
                        if since is not None and matches.get_exptime(header) < since:
                            st.dropped_by_since += 1
                            continue
                        try:
                            key = (planner.key(header),)
                        except TypeError:  # unhashable values: no grouping
                            key = ("unhashable", dataset)
                    rep = by_key.get(key)
                    if rep is None:
                        by_key[key] = dataset
                        groups[dataset] = [dataset]
                        rep_instr[dataset] = instr
                        gen.headers[dataset] = header
                    else:
                        groups[rep].append(dataset)
            log.info("Grouped", sum(len(groups[r]) for r in by_key.values()), repr(instr),
                     "datasets into", len(by_key), "bestrefs cases:", st.grouping)
        for rep in sorted(groups):
            _process(script, rep)

    _collect(result, script, groups, rep_instr, stats)
    log.info("Affected products =", result.count)


def _process(script, dataset: str) -> None:
    """BestrefsScript.process, noting datasets whose processing logged an error."""
    from crds.core import log

    before = log.errors()
    script.process(dataset)
    if log.errors() > before:
        script.first_error.setdefault(dataset, "processing failed (see the log)")


def _collect(result, script, groups, rep_instr, stats) -> None:
    unkilled = script.unkilled_updates
    errored = set(script.first_error) | set(script.kill_list)
    products: set[str] = set()
    affected: list[str] = []
    error_classes: Counter = Counter()
    per_instr_products: dict[str, set[str]] = defaultdict(set)
    for rep, members in groups.items():
        instr = rep_instr[rep]
        st = stats.setdefault(instr, InstrumentStats())
        st.cases += 1
        st.datasets += len(members)
        if rep in errored:
            st.errors += len(members)
            error_classes[script.first_error.get(rep, "killed update")] += len(members)
        if rep in unkilled:
            affected.extend(members)
            st.affected_datasets += len(members)
            for update in unkilled[rep]:
                st.types[update.filekind] = st.types.get(update.filekind, 0) + len(members)
            for member in members:
                product = script.dataset_to_product_id(member)
                products.add(product)
                per_instr_products[instr].add(product)
    for instr, prods in per_instr_products.items():
        stats[instr].affected_products = len(prods)
    result.affected_ids = sorted(products)
    result.affected_datasets = sorted(affected)
    result.datasets = sum(s.datasets for s in stats.values())
    result.cases = sum(s.cases for s in stats.values())
    result.errors = sum(s.errors for s in stats.values())
    result.error_classes = dict(error_classes.most_common())
    result.instruments = dict(sorted(stats.items()))
