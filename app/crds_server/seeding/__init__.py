"""Generate small but valid HST and JWST CRDS rule sets, references and datasets.

    from crds_server.seeding import generate
    manifest = generate("hst", "/tmp/cache", contexts=5)

Used by the server's ``seed_demo`` command, by the tests and by the lab.
"""

from .core import generate

__all__ = ["generate"]
