"""Repeated data in a report, as the rest of the report is built: what was found (findings), said
(sentences) and drawn (figures)."""
