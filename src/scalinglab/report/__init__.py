"""A study's report: figures (PNG + SVG), one static index.html, summary.md and summary.json.

build.py reads, analyses and writes (build_report, write_report); findings.py holds the analysis a
report makes; panels.py its figures; summary.py its words and summary files; html.py its page.
plot.py draws the main figure from analysis results alone (draw_comparison: into any Matplotlib ax).
"""

from scalinglab.report.build import ReportResult, build_report, write_report
from scalinglab.report.collect import StudyData
from scalinglab.report.plot import draw_comparison

__all__ = ["ReportResult", "StudyData", "build_report", "draw_comparison", "write_report"]
