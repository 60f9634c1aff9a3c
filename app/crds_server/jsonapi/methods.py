"""The JSON-RPC methods the crds client calls (contract sections 2, 3 and 6).

Each public function here is one RPC; its positional parameters are the request's
"params". They raise RpcError for anything the caller got wrong, with a message
saying what to send instead. All rules work is done by the crds library.
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import functools
import gzip
import inspect
import json
import re
import sqlite3
import tempfile
import threading
import zlib
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from crds_server import store
from crds_server.interactive.models import INFO_FIELDS, ContextHistory, File, RemoteContext
from crds_server.jsonapi import limits

NO_ARCHIVE = (
    "no archive dataset service on this server: dataset ids cannot be looked up; "
    "send the dataset's header with get_best_references instead"
)
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?)$")
NAMES_PER_QUERY = 5000  # names of one get_file_info_map query (a bounded IN list)
SYMBOLIC = {"latest": "operational", "operational": "operational", "edit": "edit",
            "versions": "versions", "build": "operational"}


class RpcError(Exception):
    """The caller's mistake; the message goes back as the JSON-RPC error message."""


def quote(value) -> str:
    """A short, printable prefix of a caller's input for an error message."""
    text = repr(value)
    return text if len(text) <= limits.ECHO else text[:limits.ECHO - 3] + "..."


# ---------------------------------------------------------------- parameter checks


def _str(value, what: str, limit: int = limits.MAX_STRING) -> str:
    if not isinstance(value, str) or not value:
        raise RpcError(f"{what} must be a non-empty string, not {quote(value)}")
    if len(value) > limit:
        raise RpcError(f"{what} is {len(value)} characters long; at most {limit} are allowed")
    return value


def _obs(value) -> str:
    obs = _str(value, "observatory")
    if obs != settings.CRDS_OBSERVATORY:
        raise RpcError(
            f"this server serves observatory {settings.CRDS_OBSERVATORY!r}, not {obs!r:.40}; "
            "use the server of that observatory"
        )
    return obs


def _name(value, what="file name") -> str:
    name = _str(value, what)
    if not NAME_RE.match(name):
        raise RpcError(f"{what} {name!r:.80} is not a CRDS file name")
    return name


def _str_list(value, what: str, limit: int, longest: int = limits.MAX_STRING,
              allow_none=True):
    if value is None and allow_none:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RpcError(f"{what} must be a list of strings{' or null' if allow_none else ''}")
    if len(value) > limit:
        raise RpcError(f"{what} has {len(value)} entries; at most {limit} are allowed in one "
                       "call: split the list")
    if any(len(v) > longest for v in value):
        raise RpcError(f"every entry of {what} must be at most {longest} characters")
    return value


def _header(value, what="header") -> dict[str, str]:
    if not isinstance(value, dict):
        raise RpcError(f"{what} must be an object of {{keyword: value}}, not {quote(value)}")
    if len(value) > limits.MAX_HEADER_KEYS:
        raise RpcError(f"{what} has {len(value)} keywords; at most {limits.MAX_HEADER_KEYS} "
                       "are allowed")
    out = {}
    for key, val in value.items():
        if len(key) > limits.MAX_KEY:
            raise RpcError(f"{what} keyword {quote(key)} is longer than {limits.MAX_KEY}")
        if not isinstance(val, (str, int, float)) or isinstance(val, bool):
            raise RpcError(f"{what} value of {quote(key)} must be a string or number")
        text = str(val)
        if len(text) > limits.MAX_VALUE:
            raise RpcError(f"{what} value of {quote(key)} is longer than {limits.MAX_VALUE}")
        out[key] = text
    return out


def _catalogued(name: str) -> File:
    rec = store.exact_file(name)
    if rec is None:
        raise RpcError(f"{name!r} is not known to this CRDS server")
    return rec


def _defaults():
    defaults = store.default_contexts()
    if defaults is None or not defaults.operational:
        raise RpcError("this server has no operational context yet; an operator must set one")
    return defaults


def _parse_date(text: str) -> datetime.datetime:
    text = text.replace("T", " ")
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise RpcError(
            f"bad date {text!r}; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"
        ) from None
    return timezone.make_aware(when, datetime.UTC) if timezone.is_naive(when) else when


def _pmap_at(when: datetime.datetime) -> str:
    entry = (ContextHistory.objects.filter(observatory=settings.CRDS_OBSERVATORY,
                                           start_date__lte=when)
             .order_by("-start_date", "-id").first())
    if entry is None:
        raise RpcError(f"no context was in use on {when:%Y-%m-%d %H:%M:%S}; "
                       "the context history starts later")
    return entry.context


def _narrow(pmap: str, qualifiers: str) -> str:
    """The imap (instr) or rmap (instr-filekind) of ``pmap``."""
    if not qualifiers:
        return pmap
    parts = qualifiers.split("-", 1)
    loaded = store.mapping(pmap)
    try:
        imap = loaded.get_imap(parts[0])
    except Exception:  # noqa: BLE001
        raise RpcError(f"{pmap} has no instrument {parts[0]!r}") from None
    if len(parts) == 1:
        return imap.basename
    try:
        return imap.get_rmap(parts[1]).basename
    except Exception:  # noqa: BLE001
        raise RpcError(f"{imap.basename} has no reference type {parts[1]!r}") from None


def resolve_context(spec, allow_qualified=True) -> str:
    """A mapping name for a literal name, a symbolic spec or a (qualified) date spec."""
    spec = _str(spec, "context").strip()
    obs = settings.CRDS_OBSERVATORY
    if spec.endswith(store.MAPPING_EXTS):
        _catalogued(_name(spec, "context"))
        return spec
    rest = spec[len(obs) + 1:] if spec.startswith(obs + "-") else spec
    if rest in SYMBOLIC:
        defaults = _defaults()
        name = getattr(defaults, SYMBOLIC[rest])
        if not name:
            raise RpcError(f"this server has no {rest} context")
        return name
    for tag in ("latest", "operational", "edit", "versions"):
        if rest.endswith("-" + tag) and allow_qualified:
            return _narrow(getattr(_defaults(), SYMBOLIC[tag]), rest[: -len(tag) - 1])
    match = DATE_RE.search(rest)
    if match:
        qualifiers = rest[: match.start()].rstrip("-")
        if qualifiers and not allow_qualified:
            raise RpcError(f"{spec!r}: only pipeline-level date specs are allowed here")
        return _narrow(_pmap_at(_parse_date(match.group(1))), qualifiers)
    raise RpcError(
        f"bad context {spec!r}; use a mapping name, {obs}-latest, {obs}-edit, or a date "
        f"such as {obs}-2024-01-31T00:00:00"
    )


# ---------------------------------------------------------------- server info


_LOCAL = threading.local()
_MEMO: dict[str, dict] = {}
_MEMO_LOCK = threading.Lock()


def forget_cached() -> None:
    with _MEMO_LOCK:
        _MEMO.clear()


def crds_encode(obj) -> dict:
    payload = base64.b64encode(gzip.compress(json.dumps(obj).encode(), 6)).decode("ascii")
    return {"crds_encoded": "1.0", "crds_payload": payload}


def _catalog_facts() -> dict:
    """download_metadata (encoded), mappings and bad files: computed once per catalog change.

    Kept in process memory and in the Django cache (shared by mod_wsgi processes);
    a cache that is down only makes the first call of each process slower.
    """
    generation = store.catalog_generation()
    memo = _MEMO.get("facts")
    if memo and memo["generation"] == generation:
        return memo
    key = f"catalog-facts-{settings.CRDS_OBSERVATORY}-{generation}"
    facts = cache.get(key)
    if facts is None:
        rows = File.objects.values_list("name", "type", "size", "sha1sum", "marked_bad")
        metadata, mappings, bad = {}, [], []
        for name, kind, size, sha1, marked_bad in rows.iterator(chunk_size=5000):
            metadata[name] = {"size": str(size), "sha1sum": sha1}
            if kind == "mapping":
                mappings.append(name)
            if marked_bad:
                bad.append(name)
        facts = {
            "generation": generation,
            "download_metadata": crds_encode(metadata),
            "mappings": sorted(mappings),
            "bad_files_list": sorted(bad),
            "updated": str(timezone.now()),
        }
        cache.set(key, facts, 24 * 3600)
    with _MEMO_LOCK:
        _MEMO["facts"] = facts
    return facts


def _urls(request) -> dict:
    obs = settings.CRDS_OBSERVATORY
    base = request.build_absolute_uri("/").rstrip("/") if request else settings.SITE.direct_url
    return {
        f"{kind}_url": {obs: f"{base}/unchecked_get/{sub}/{obs}/"}
        for kind, sub in (("mapping", "mappings"), ("reference", "references"),
                          ("config", "config"), ("pickle", "pickles"))
    }


def get_server_info():
    import crds

    defaults = _defaults()
    facts = _catalog_facts()
    history = [h.as_list() for h in ContextHistory.objects.filter(
        observatory=settings.CRDS_OBSERVATORY).order_by("-start_date", "-id")]
    return {
        "observatory": settings.CRDS_OBSERVATORY,
        "operational_context": defaults.operational,
        "latest_context": defaults.operational,
        "edit_context": defaults.edit or defaults.operational,
        "versions_context": defaults.versions or "",
        "build_context": defaults.operational,
        "bad_files_list": facts["bad_files_list"],
        "bad_files": " ".join(facts["bad_files_list"]),
        "mappings": facts["mappings"],
        "download_metadata": facts["download_metadata"],
        **_urls(getattr(_LOCAL, "request", None)),
        "force_remote_mode": 0,
        "crds_version": {"str": crds.__version__},
        "server_version": __import__("crds_server").__version__,
        "last_synced": str(timezone.now()),
        "last_refreshed": facts["updated"],
        "updated": facts["updated"],
        "context_history": history,
        "max_headers_per_rpc": limits.MAX_HEADERS,
        "max_bestrefs_per_rpc": limits.MAX_HEADERS,
        "rpc_limits": limits.published(),
    }


# ---------------------------------------------------------------- contexts


def get_default_context(observatory=None, state=None):
    if observatory is not None:
        _obs(observatory)
    if state is None:
        state = "latest"
    state = _str(state, "state")
    if state not in SYMBOLIC:
        raise RpcError(f"bad state {state!r}; use null, latest, operational, edit or versions")
    name = getattr(_defaults(), SYMBOLIC[state])
    if not name:
        raise RpcError(f"this server has no {state} context")
    return name


def get_build_context(observatory, cal_version=None):
    _obs(observatory)
    return _defaults().operational


def get_context_by_date(spec, observatory=None):
    if observatory is not None:
        _obs(observatory)
    return resolve_context(spec)


def get_context_history(observatory):
    _obs(observatory)
    return [h.as_list() for h in ContextHistory.objects.filter(
        observatory=settings.CRDS_OBSERVATORY).order_by("start_date", "id")]


def push_remote_context(observatory, kind, key, context):
    _obs(observatory)
    kind = _str(kind, "kind")
    key = _str(key, "key")
    if len(key) > 128:
        raise RpcError("key must be at most 128 characters")
    pmap = resolve_context(context, allow_qualified=False)
    RemoteContext.objects.update_or_create(
        observatory=settings.CRDS_OBSERVATORY, key=key, defaults={"kind": kind, "context": pmap})
    return None


def get_remote_context(observatory, pipeline):
    _obs(observatory)
    rec = RemoteContext.objects.filter(observatory=settings.CRDS_OBSERVATORY,
                                       key=_str(pipeline, "pipeline")).first()
    if rec is None:
        raise RpcError(f"no context was pushed for pipeline {pipeline!r:.80}")
    return rec.context


# ---------------------------------------------------------------- rules


def get_mapping_names(context):
    name = resolve_context(context)
    return sorted(store.mapping(name).mapping_names())


def get_reference_names(context):
    name = resolve_context(context)
    return sorted(store.mapping(name).reference_names())


def get_required_parkeys(context):
    name = resolve_context(context)
    with store.CRDS_LOCK:
        keys = store.mapping(name).get_required_parkeys()
    if isinstance(keys, dict):
        return {str(k): list(v) for k, v in keys.items()}
    return list(keys)


def _bestrefs(pmap: str, header: dict, reftypes):
    from crds.core import heavy_client

    with store.CRDS_LOCK:
        refs = heavy_client.hv_best_references(pmap, header, include=reftypes)
    return {str(k).lower(): str(v) for k, v in refs.items()}


def get_best_references(context, header, reftypes=None):
    pmap = resolve_context(context, allow_qualified=False)
    if not pmap.endswith(".pmap"):
        raise RpcError(f"best references need a pipeline context (.pmap), not {pmap}")
    header = _header(header)
    reftypes = _str_list(reftypes, "reftypes", limits.MAX_REFTYPES)
    return _bestrefs(pmap, header, [r.lower() for r in reftypes] if reftypes else None)


def get_best_references_by_header_map(context, header_map, reftypes=None):
    pmap = resolve_context(context, allow_qualified=False)
    if not isinstance(header_map, dict):
        raise RpcError("header_map must be an object of {dataset_id: header}")
    if len(header_map) > limits.MAX_HEADERS:
        raise RpcError(f"header_map has {len(header_map)} datasets; at most "
                       f"{limits.MAX_HEADERS} are allowed in one call (max_headers_per_rpc)")
    if any(len(dataset_id) > limits.MAX_STRING for dataset_id in header_map):
        raise RpcError(f"every dataset id must be at most {limits.MAX_STRING} characters")
    headers = {dataset_id: _header(header, f"header of {quote(dataset_id)}")
               for dataset_id, header in header_map.items()}
    reftypes = _str_list(reftypes, "reftypes", limits.MAX_REFTYPES)
    reftypes = [r.lower() for r in reftypes] if reftypes else None
    out = {}
    for dataset_id, header in headers.items():
        # One dataset per turn of the library's lock: requests waiting for it go first.
        try:
            out[dataset_id] = _bestrefs(pmap, header, reftypes)
        except Exception as exc:  # noqa: BLE001 - one bad dataset does not fail the batch
            out[dataset_id] = f"NOT FOUND {exc}"
    return out


def _no_archive(*_params):
    raise RpcError(NO_ARCHIVE)


get_dataset_ids = get_dataset_headers_by_id = get_best_references_by_ids = _no_archive
get_affected_datasets = get_aui_best_references = _no_archive


# ---------------------------------------------------------------- catalog


def get_file_info(context_or_obs, name):
    _str(context_or_obs, "context or observatory")
    return _catalogued(_name(name)).info()


def get_file_info_map(observatory, files=None, fields=None):
    _obs(observatory)
    files = _str_list(files, "files", limits.MAX_FILES)
    fields = _str_list(fields, "fields", len(INFO_FIELDS))
    if fields:
        unknown = sorted(set(fields) - set(INFO_FIELDS))
        if unknown:
            raise RpcError(f"unknown fields {quote(unknown)}; known fields: "
                           f"{', '.join(INFO_FIELDS)}")
    if files is None:
        return {rec.name: rec.info(fields) for rec in File.objects.iterator(chunk_size=2000)}
    wanted = sorted({name for name in files if NAME_RE.match(name)})
    found = {}
    for start in range(0, len(wanted), NAMES_PER_QUERY):
        batch = wanted[start:start + NAMES_PER_QUERY]
        exact = set(batch)
        for rec in File.objects.filter(name__in=batch).iterator(chunk_size=2000):
            if rec.name in exact:  # the byte-exact name, never a padded or folded match
                found[rec.name] = rec.info(fields)
    return {name: found.get(name, "NOT FOUND") for name in files}


def _url(name: str) -> str:
    rec = _catalogued(_name(name))
    request = getattr(_LOCAL, "request", None)
    kind = "mapping" if rec.is_mapping else "reference"
    return _urls(request)[f"{kind}_url"][settings.CRDS_OBSERVATORY] + name


def get_url(context, name):
    resolve_context(context)
    return _url(name)


def get_mapping_url(context, name):
    if not str(name).endswith(store.MAPPING_EXTS):
        raise RpcError(f"{name!r:.80} is not a mapping")
    return get_url(context, name)


def get_reference_url(context, name):
    if str(name).endswith(store.MAPPING_EXTS):
        raise RpcError(f"{name!r:.80} is a mapping, not a reference")
    return get_url(context, name)


@functools.lru_cache(maxsize=64)
def _matcher(pattern: str):
    """A compiled matcher for a bounded glob (fnmatch's own cache holds 32768 patterns)."""
    return re.compile(fnmatch.translate(pattern)).match


def _glob(kind: str, observatory, pattern):
    _obs(observatory)
    match = _matcher(_str(pattern, "glob pattern", limits.MAX_PATTERN))
    names = File.objects.filter(type=kind).values_list("name", flat=True)
    return sorted(n for n in names.iterator(chunk_size=5000) if match(n))


def list_mappings(observatory, glob_pattern="*"):
    return _glob("mapping", observatory, glob_pattern)


def list_references(observatory, glob_pattern="*"):
    return _glob("reference", observatory, glob_pattern)


def get_sqlite_db(observatory):
    """The catalog and history as a SQLite file: base64(zlib(bytes)), as `crds sql` expects."""
    obs = _obs(observatory)
    generation = store.catalog_generation() + str(ContextHistory.objects.count())
    key = f"sqlite-{obs}-{generation}"
    cached = cache.get(key)
    if cached:
        return cached
    columns = ("id", *INFO_FIELDS, "blob", "deliverer_email", "catalog_link")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "crds.sqlite3"
        con = sqlite3.connect(path)
        with con:
            # obs is one of the validated observatory names, never caller text
            table_columns = ", ".join(c + " text" for c in columns)
            con.execute(f"create table crds_{obs}_catalog ({table_columns})")
            con.execute(f"create table crds_{obs}_context_history "
                        "(id integer primary key, start_date text, context text, "
                        "description text)")
            rows = []
            for rec in File.objects.iterator(chunk_size=2000):
                info = rec.info()
                rows.append((str(rec.id), *(info[f] for f in INFO_FIELDS), "",
                             rec.deliverer_email, f"/browse/{rec.name}"))
            con.executemany(
                f"insert into crds_{obs}_catalog values ({', '.join('?' * len(columns))})",  # noqa: S608
                rows)
            con.executemany(
                f"insert into crds_{obs}_context_history (start_date, context, description) "  # noqa: S608
                "values (?, ?, ?)",
                [h.as_list() for h in ContextHistory.objects.filter(observatory=obs)])
        con.close()
        encoded = base64.b64encode(zlib.compress(path.read_bytes())).decode("ascii")
    cache.set(key, encoded, 3600)
    return encoded


# ---------------------------------------------------------------- jpoll


def jpoll_pull_messages(key, since_id=None):
    """The messages of status channel ``key`` after message number ``since_id``."""
    from crds_server.jpoll import channels

    try:
        return channels.pull(key, since_id)
    except (channels.ChannelNotFound, ValueError) as exc:
        raise RpcError(str(exc)) from None


def jpoll_abort(key):
    """Ask the process writing to channel ``key`` to stop at its next message."""
    from crds_server.jpoll import channels

    try:
        return channels.abort(key)
    except channels.ChannelNotFound as exc:
        raise RpcError(str(exc)) from None


# ---------------------------------------------------------------- dispatch

METHODS = {
    name: func for name, func in globals().items()
    if callable(func) and not name.startswith("_") and inspect.isfunction(func)
    and func.__module__ == __name__ and name not in (
        "resolve_context", "crds_encode", "forget_cached")
}
for _alias in ("get_dataset_ids", "get_dataset_headers_by_id", "get_best_references_by_ids",
               "get_affected_datasets", "get_aui_best_references"):
    METHODS[_alias] = _no_archive


def call(method: str, params, request=None):
    """Run RPC ``method`` with positional ``params``; RpcError for any caller mistake."""
    func = METHODS.get(method) if isinstance(method, str) else None
    if func is None:
        raise RpcError(f"unknown method {str(method)[:80]!r}; this server knows: "
                       f"{', '.join(sorted(METHODS))}")
    if isinstance(params, dict):
        params = [params] if method == "get_server_info" and not params else list(params.values())
    if params is None:
        params = []
    if not isinstance(params, list):
        raise RpcError("params must be a list of positional parameters")
    if func is not _no_archive:
        try:
            inspect.signature(func).bind(*params)
        except TypeError:
            raise RpcError(f"bad parameters for {method}: expected ({_signature(func)}), "
                           f"got {len(params)} parameter(s)") from None
    _LOCAL.request = request
    try:
        return func(*params)
    finally:
        _LOCAL.request = None


def _signature(func) -> str:
    return ", ".join(str(p) for p in inspect.signature(func).parameters.values())
