"""The server's site config: one small TOML file per server, named by $CRDS_SITE_CONFIG.

The roles render it; settings.py reads nothing else. The schema is documented in
app/README.md and app/site_config.example.toml. No secret is ever written here: the
Django secret key and the database password live in the files this config names.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "CRDS_SITE_CONFIG"
OBSERVATORIES = ("hst", "jwst")
USES = ("django", "dev", "test", "ops", "bit", "cit")
DB_ENGINES = ("mysql", "sqlite")
CACHE_BACKENDS = ("memcached", "locmem")


class SiteConfigError(Exception):
    """The site config is missing or wrong; the message says what to fix."""


@dataclass(frozen=True)
class Paths:
    crds: Path
    file_cache: Path
    server_files: Path
    logs: Path
    static_root: Path


@dataclass(frozen=True)
class SiteConfig:
    source: Path
    observatory: str
    use: str
    server: str
    proxy_url: str
    direct_url: str
    allowed_hosts: list[str]
    debug: bool
    secret_key_file: Path
    paths: Paths
    database: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)
    mail: dict = field(default_factory=dict)
    downloads: dict = field(default_factory=dict)
    submission: dict = field(default_factory=dict)
    trusted_proxies: list[str] = field(default_factory=list)

    @property
    def behind_apache(self) -> bool:
        """Every use case but `django` runs under Apache + mod_wsgi with TLS."""
        return self.use != "django"

    def secret_key(self) -> str:
        path = self.secret_key_file
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise SiteConfigError(
                f"{self.source}: secret_key_file {str(path)!r} cannot be read ({exc.strerror}); "
                "create it with one line of 50+ random characters, mode 0600"
            ) from None
        if len(key) < 50:
            raise SiteConfigError(
                f"{self.source}: the secret key in {str(path)!r} is shorter than 50 characters; "
                "write a longer random one"
            )
        return key


def _need(table: dict, key: str, kind, where: str, choices=None):
    if key not in table:
        raise SiteConfigError(f"{where}: missing required key {key!r}")
    value = table[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise SiteConfigError(f"{where}: {key!r} must be a {name}, not {value!r}")
    if choices and value not in choices:
        raise SiteConfigError(f"{where}: {key!r} is {value!r}; use one of {', '.join(choices)}")
    return value


def parse(text: str, source: Path | str = "<site config>") -> SiteConfig:
    """Validate the TOML ``text`` and return the SiteConfig, or raise SiteConfigError."""
    source = Path(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SiteConfigError(f"{source}: not valid TOML: {exc}") from None
    where = str(source)
    obs = _need(data, "observatory", str, where, OBSERVATORIES)
    use = _need(data, "use", str, where, USES)
    hosts = _need(data, "allowed_hosts", list, where)
    if not hosts or not all(isinstance(h, str) and h for h in hosts):
        raise SiteConfigError(f"{where}: 'allowed_hosts' must be a non-empty list of host names")
    paths = _need(data, "paths", dict, where)
    pwhere = f"{where} [paths]"
    paths = Paths(
        **{k: Path(_need(paths, k, str, pwhere)) for k in Paths.__dataclass_fields__}
    )
    database = _need(data, "database", dict, where)
    dwhere = f"{where} [database]"
    engine = _need(database, "engine", str, dwhere, DB_ENGINES)
    if engine == "mysql":
        _need(database, "defaults_file", str, dwhere)
    else:
        _need(database, "path", str, dwhere)
    for secret in ("password", "passwd"):
        if secret in database:
            raise SiteConfigError(
                f"{dwhere}: no {secret!r} here; put it in the defaults_file (mode 0600)"
            )
    cache = _need(data, "cache", dict, where)
    cwhere = f"{where} [cache]"
    backend = _need(cache, "backend", str, cwhere, CACHE_BACKENDS)
    if backend == "memcached":
        _need(cache, "location", str, cwhere)
    mail = data.get("mail", {})
    downloads = data.get("downloads", {})
    if not isinstance(mail, dict) or not isinstance(downloads, dict):
        raise SiteConfigError(f"{where}: [mail] and [downloads] must be tables")
    if "x_sendfile" in downloads:
        _need(downloads, "x_sendfile", bool, f"{where} [downloads]")
    submission = data.get("submission", {})
    if not isinstance(submission, dict):
        raise SiteConfigError(f"{where}: [submission] must be a table")
    swhere = f"{where} [submission]"
    for key in ("lock_minutes", "max_upload_mb"):
        if key in submission and (_need(submission, key, int, swhere) <= 0):
            raise SiteConfigError(f"{swhere}: {key!r} must be above 0")
    if "team_email" in submission:
        _need(submission, "team_email", str, swhere)
    proxies = data.get("trusted_proxies", [])
    if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
        raise SiteConfigError(f"{where}: 'trusted_proxies' must be a list of addresses or "
                              "networks (strings), e.g. [\"10.0.0.5\", \"10.1.0.0/24\"]")
    for entry in proxies:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SiteConfigError(f"{where}: trusted_proxies entry {entry!r} is not an "
                                  "address or network") from None
    return SiteConfig(
        source=source,
        observatory=obs,
        use=use,
        server=_need(data, "server", str, where),
        proxy_url=_need(data, "proxy_url", str, where).rstrip("/"),
        direct_url=_need(data, "direct_url", str, where).rstrip("/"),
        allowed_hosts=list(hosts),
        debug=_need(data, "debug", bool, where),
        secret_key_file=Path(_need(data, "secret_key_file", str, where)),
        paths=paths,
        database=dict(database),
        cache=dict(cache),
        mail=dict(mail),
        submission=dict(submission),
        downloads=dict(downloads),
        trusted_proxies=list(proxies),
    )


def load(path: str | os.PathLike | None = None) -> SiteConfig:
    """Read the site config named by ``path`` or $CRDS_SITE_CONFIG."""
    path = path or os.environ.get(ENV_VAR)
    if not path:
        raise SiteConfigError(
            f"${ENV_VAR} is not set; point it at the server's site config TOML "
            "(see app/site_config.example.toml)"
        )
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SiteConfigError(f"site config {str(path)!r} cannot be read: {exc.strerror}") from None
    return parse(text, path)


def configure_crds_library(cfg: SiteConfig) -> None:
    """Point the crds library at the server's file store, before crds is imported.

    The store is a CRDS cache (CRDS_PATH layout) with flat references. The server never
    asks another server anything, so the library runs serverless and local.
    """
    for var in [v for v in os.environ if v.startswith("CRDS_") and v != ENV_VAR]:
        del os.environ[var]
    store = cfg.paths.file_cache
    os.environ.update(
        CRDS_PATH=str(store),
        CRDS_OBSERVATORY=cfg.observatory,
        CRDS_MODE="local",
        CRDS_SERVER_URL="https://crds-serverless-mode.stsci.edu",
        CRDS_READONLY_CACHE="1",
        # crds's file readers call gc.collect() twice per file; in a server's large heap
        # that is most of a header read's time (bestrefs page, certify, ingest). Python's
        # own collector still runs.
        CRDS_EXPLICIT_GARBAGE_COLLECTION="0",
    )
