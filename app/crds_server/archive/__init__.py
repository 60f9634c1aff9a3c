"""STAND-IN for the archive's dataset-parameter service (DADSOPS / the JWST archive).

The real service is not reachable from here.  This package offers the interface the
server and the affected-datasets engine use (:class:`DatasetService`), a local SQLite
implementation of it (:class:`StandInDatasetService`) and a generator of synthetic
datasets valid for seeded rules (:func:`generate_datasets`).  Nothing in it is real
archive data.
"""

from .service import NOT_FOUND, DatasetService, StandInDatasetService
from .synthetic import generate_datasets

__all__ = ["NOT_FOUND", "DatasetService", "StandInDatasetService", "generate_datasets"]
