"""Building a study's report: read, analyse, draw, write, and swap the finished folder into place.

    build_report(study, out_dir=None, target_compute=None, bootstrap=1000, seed=0, results_dir=None)
        -> ReportResult(out_dir, index_html, figures, verdict, summary, headline)
    write_report(data: StudyData, out_dir, ...)    the same from a table already read (collect.read_study)

Everything is written into a temporary folder that replaces the report folder only when complete,
so a crash never leaves half a report. The default folder is `report/` inside the study's results
folder (beside results.sqlite).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from scalinglab.config import ConfigError, Study, load_study
from scalinglab.config.paths import check_folder, make_folder
from scalinglab.report import html, summary
from scalinglab.report.collect import StudyData, read_study
from scalinglab.report.findings import analyse
from scalinglab.report.headline import Headline, headline, own_section_first
from scalinglab.report.panels import draw_panels

MARKER_FILES = ("index.html", "summary.json")
"""A folder holding these is a report that a new one may replace."""


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    index_html: Path
    figures: list[Path]
    """Every image written (PNG and SVG)."""
    verdict: str
    """The headline in one paragraph: the study's finding, then the loss forecast."""
    summary: dict
    """The content of summary.json."""
    headline: Headline


def build_report(study: Study | str | Path, out_dir: str | Path | None = None, target_compute: float | None = None,
                 bootstrap: int = 1000, seed: int = 0, results_dir: str | Path | None = None) -> ReportResult:
    """Fit, draw and write the report of a study (loaded, or its file); raises ConfigError when there is
    nothing to report."""
    if not isinstance(study, Study):
        study = load_study(study)
    results_dir = Path(results_dir) if results_dir else study.default_out_dir()
    out_dir = report_folder(study, out_dir, results_dir)
    return write_report(read_study(study, results_dir), out_dir, target_compute, bootstrap, seed)


def report_folder(study: Study, out_dir: str | Path | None = None, results_dir: str | Path | None = None) -> Path:
    """Where the report goes (default: report/ in the results folder), checked before any fit: a
    folder that cannot be written, or that holds something other than a report, is one line."""
    out_dir = Path(out_dir) if out_dir else Path(results_dir or study.default_out_dir()) / "report"
    _check_replaceable(out_dir)
    return out_dir


def write_report(data: StudyData, out_dir: Path, target_compute: float | None = None, bootstrap: int = 1000,
                 seed: int = 0) -> ReportResult:
    """The report of results already read (build_report's second half; tests feed it synthetic tables)."""
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    findings = analyse(data, target_compute, bootstrap, seed)
    make_folder(out_dir.parent)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    make_folder(tmp)
    try:
        panels = draw_panels(data, findings, tmp)
        head = headline(data, findings)
        sections = own_section_first(summary.sections(data, findings), head.kind)
        names = [path.name for panel in panels for path in (panel.png, panel.svg) if path]
        doc = summary.summary_dict(data, findings, head, names)
        (tmp / "summary.json").write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        (tmp / "summary.md").write_text(summary.markdown(doc, sections))
        (tmp / "index.html").write_text(html.study_page(data, findings, head, panels, sections))
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    images = [out_dir / n for n in names]
    return ReportResult(out_dir, out_dir / "index.html", images, head.text, doc, head)


def _check_replaceable(out_dir: Path) -> None:
    check_folder(out_dir)  # a file at or above it is one line, before the fits
    if out_dir.exists() and any(out_dir.iterdir()) and not all((out_dir / m).exists() for m in MARKER_FILES):
        raise ConfigError(f"{out_dir}: exists and is not a scalinglab report; choose another --out")


def _swap(tmp: Path, out_dir: Path) -> None:
    """Put the finished folder in place of the old report (two renames; the old one is then deleted)."""
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


