"""A study's results: one SQLite file (WAL) written only by the study driver, read by everyone."""

from scalinglab.store.db import FINAL, STATUSES, Store, driver_alive, writer_lock
from scalinglab.store.tables import (
    COLUMNS,
    StudyPaths,
    StudyStatus,
    check_owner,
    export_table,
    load_decisions,
    load_metrics,
    study_paths,
    study_status,
    write_table,
)

__all__ = [
    "COLUMNS",
    "FINAL",
    "STATUSES",
    "Store",
    "StudyPaths",
    "StudyStatus",
    "check_owner",
    "driver_alive",
    "export_table",
    "load_decisions",
    "load_metrics",
    "study_paths",
    "study_status",
    "write_table",
    "writer_lock",
]
