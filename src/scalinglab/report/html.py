"""The page: one static index.html, figures as relative <img> files beside it, inline CSS, no JS.

Everything that comes from a study (names, errors, descriptions) goes through html.escape; the
page opens from disk with no server and no network.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass

from scalinglab.report import caveats, summary
from scalinglab.report.collect import StudyData, run_rows
from scalinglab.report.findings import Findings
from scalinglab.report.headline import Headline, own_section_first
from scalinglab.report.panels import Panel
from scalinglab.report.regimes import findings as regime_findings
from scalinglab.report.regimes import sentences as regime_sentences
from scalinglab.report.sentences import decision_reason

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       max-width: 1240px; margin: 24px auto; padding: 0 20px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 34px 0 8px;
     border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #666; font-size: 13px; }
.headline { background: #eef5fb; border-left: 5px solid #0072B2; padding: 4px 16px; margin: 18px 0; }
.headline p { margin: 8px 0; } .headline .finding { font-size: 17px; }
.headline .forecast { font-size: 14.5px; color: #333; }
.note { color: #555; font-size: 13.5px; }
.warn { background: #fff6e5; border-left: 5px solid #E69F00; padding: 8px 14px; margin: 10px 0; }
ul.facts { margin: 6px 0; padding-left: 22px; } ul.facts li { margin: 3px 0; }
figure { margin: 14px 0 22px; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; box-sizing: border-box; }
figcaption { color: #444; font-size: 13.5px; margin-top: 4px; }
figcaption a { color: #0072B2; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0; }
th, td { padding: 3px 7px; border-bottom: 1px solid #e6e6e6; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; white-space: normal; vertical-align: bottom; }
td.text, th.text { text-align: left; }
td.err { text-align: left; white-space: normal; color: #a33; min-width: 140px; max-width: 340px; font-size: 11.5px; }
tr.diverged td { background: #fdf1e8; } tr.failed td { background: #f6e6e6; }
tr.pending td, tr.running td { color: #888; }
/* A table wider than the page scrolls sideways in its own box, never the page, and shows it: a
   shadow on the side that has more (Lea Verou's scrolling shadows), a scrollbar that stays. */
.scroll { overflow-x: auto; max-width: 100%; scrollbar-gutter: stable;
  background: linear-gradient(to right, #fff 30%, #fff0) left / 40px 100% no-repeat local,
              linear-gradient(to left, #fff 30%, #fff0) right / 40px 100% no-repeat local,
              radial-gradient(farthest-side at 0 50%, #0003, #0000) left / 14px 100% no-repeat scroll,
              radial-gradient(farthest-side at 100% 50%, #0003, #0000) right / 14px 100% no-repeat scroll; }
.scroll::-webkit-scrollbar { height: 10px; } .scroll::-webkit-scrollbar-thumb { background: #bbb; border-radius: 5px; }
code { background: #f4f4f4; padding: 0 3px; border-radius: 3px; }
"""


@dataclass(frozen=True)
class FigureFile:
    """A figure as the page shows it: the PNG beside index.html, and its SVG twin if written."""

    name: str
    """File stem, e.g. 'loss_vs_compute'."""
    title: str
    caption: str
    png: str
    svg: str | None = None


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: str = "num"
    """'text' (left-aligned), 'num' (4 significant digits), 'int', 'sci' (1.2e15), 'err' (wrapped)."""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def fmt(value: object, kind: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if kind == "int":
        return f"{int(value):,}"
    if kind == "sci":
        return f"{float(value):.3g}"
    if kind == "num":
        return f"{float(value):.4g}" if isinstance(value, (int, float)) else str(value)
    return str(value)


def table(columns: Sequence[Column], rows: Sequence[dict], row_class: str | None = None) -> str:
    """A table in its own sideways-scrolling box; a column empty in every row is left out."""
    columns = [c for c in columns if not c.title or any(fmt(row.get(c.key), c.kind) for row in rows)]
    head = "".join(f'<th class="{"text" if c.kind in ("text", "err") else "num"}">{esc(c.title)}</th>'
                   for c in columns)
    body = []
    for row in rows:
        cls = f' class="{esc(row.get(row_class, ""))}"' if row_class else ""
        cells = "".join(f'<td class="{c.kind}">{esc(fmt(row.get(c.key), c.kind))}</td>' for c in columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def figure(f: FigureFile) -> str:
    svg = f' <a href="{esc(f.svg)}">SVG</a>' if f.svg else ""
    return (f'<figure id="{esc(f.name)}"><img src="{esc(f.png)}" alt="{esc(f.title)}">'
            f"<figcaption><b>{esc(f.title)}.</b> {esc(f.caption)}{svg}</figcaption></figure>")


def bullets(items: Sequence[str]) -> str:
    return '<ul class="facts">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>" if items else ""


def page(title: str, meta: str, head: Headline, warnings: Sequence[str],
         sections: Sequence[tuple[str, str]]) -> str:
    """The whole document. `sections` are (heading, body HTML already escaped by the helpers above)."""
    warn = "".join(f'<div class="warn">{esc(w)}</div>' for w in warnings)
    finding = "".join(f'<p class="finding">{esc(line)}</p>' for line in head.finding)
    forecast = f'<p class="{"forecast" if head.finding else "finding"}">{esc(head.forecast)}</p>'
    body = "".join(f"<section><h2>{esc(h)}</h2>{b}</section>" for h, b in sections if b)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><div class=\"meta\">{esc(meta)}</div>"
        f"<div class=\"headline\">{finding}{forecast}</div>{warn}{body}"
        "<p class=\"meta\">Files beside this page: summary.md, summary.json, and every figure as PNG and SVG.</p>"
        "</body></html>\n"
    )


DECISIONS_TABLE = [
    Column("step", "step", "int"), Column("action", "action", "text"),
    Column("p_b_beats_a", "P(B better)", "num"), Column("delta", "Δ loss", "num"),
    Column("delta_lo", "Δ low", "num"), Column("delta_hi", "Δ high", "num"),
    Column("spent_flops", "FLOPs spent", "sci"), Column("reason", "why", "err"),
]

RUNS_TABLE = [
    Column("name", "run", "text"), Column("arm", "arm", "text"), Column("status", "status", "text"),
    Column("width", "width", "int"), Column("depth", "depth", "int"), Column("lr", "peak LR", "sci"),
    Column("batch_size", "batch", "int"), Column("params", "params N", "int"),
    Column("tokens", "tokens", "int"), Column("epochs", "epochs", "num"),
    Column("compute", "FLOPs (6ND)", "sci"), Column("final_train_loss", "train loss", "num"),
    Column("eval", "eval loss ± se", "text"), Column("unseen", "unseen train", "num"),
    Column("gap", "gap", "num"), Column("note", "note", "err"),
]


SETTING_COLUMNS = {"l2": Column("l2", "L2 λ", "sci"), "weight_decay": Column("weight_decay", "weight decay", "sci")}
"""Shown after the batch size when the study sweeps them."""


def _runs_columns(data: StudyData) -> list[Column]:
    at = next(i for i, c in enumerate(RUNS_TABLE) if c.key == "batch_size") + 1
    return RUNS_TABLE[:at] + [c for key, c in SETTING_COLUMNS.items() if key in data.swept] + RUNS_TABLE[at:]


def _table_rows(data: StudyData) -> list[dict]:
    rows = sorted(run_rows(data), key=lambda r: (data.study.arms.index(r["arm"]), r["planned_compute"] or 0))
    for r in rows:
        ev, se = r["final_eval_loss"], r["final_eval_loss_se"]
        r["eval"] = "" if ev is None else f"{ev:.4g}" + (f" ± {se:.2g}" if se is not None else "")
        r["note"] = (f"diverged at step {r['diverged_step']} of {r['steps_planned'] or '?'}"
                     if r["status"] == "diverged" else (r["error"] or ""))
    return rows


CONTRAST_TABLE = [
    Column("lever", "recipe (vs each regime's baseline)", "text"),
    Column("one", f"{regime_findings.ONE}: Δ loss", "text"), Column("one_verdict", "", "text"),
    Column("many", f"{regime_findings.MANY}: Δ loss", "text"), Column("many_verdict", "", "text"),
]


def _regime_sections(data: StudyData, findings: Findings, text: dict[str, list[str]],
                     by_section: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(title, HTML) of the sections that open the page when runs repeat data: the study's point then."""
    repeats = findings.repeats
    if repeats is None:
        return []
    out = []
    if repeats.contrast is not None:
        out.append((regime_sentences.CONTRAST_TITLE, "".join(by_section.get("regimes", [])) + bullets(text[regime_sentences.CONTRAST_TITLE])
                    + table(CONTRAST_TABLE, regime_sentences.contrast_rows(repeats.contrast, data.labels))))
    out.append((regime_sentences.REPEATED_TITLE, bullets(text[regime_sentences.REPEATED_TITLE])))
    return out


def study_page(data: StudyData, findings: Findings, head: Headline, panels: list[Panel],
               sections: list[tuple[str, list[str]]]) -> str:
    """index.html of a study: its headline, warnings, each section's panels and sentences, the runs."""
    counts = data.counts()
    meta = (f"{data.study.path} · {len(data.table)} runs: {counts['complete']} complete, {counts['diverged']} "
            f"diverged, {counts['failed']} failed, {counts['pending'] + counts['running']} not finished · "
            f"generated {time.strftime('%Y-%m-%d %H:%M')}")
    warnings = []
    if counts["failed"]:
        warnings.append(f"{counts['failed']} run(s) failed and are left out of every fit; their errors are in the "
                        f"table below. `scalinglab run` retries them.")
    if counts["pending"] + counts["running"]:
        warnings.append(f"{counts['pending'] + counts['running']} run(s) have no result yet: this report covers the "
                        f"finished ones.")
    careful = caveats.by_caveat({arm: fit.fit for arm, fit in findings.fits.items() if fit.fit is not None})
    if careful:
        warnings.append(f"Fits to read with care: {careful}. Section Loss vs compute says why.")
    text = dict(sections)
    by_section = {}
    for panel in panels:
        by_section.setdefault(panel.section, []).append(
            figure(FigureFile(panel.png.stem, panel.title, panel.caption, panel.png.name, panel.svg.name)))
    body = [
        *_regime_sections(data, findings, text, by_section),
        ("Loss vs compute", "".join(by_section.get("compute", [])) + bullets(text["Scaling fits"])),
        ("Forecast and backtest", bullets(text["Forecast and backtest"])
         or '<p class="note">No forecast: no arm could be fitted.</p>'),
    ]
    for stem, title in (("lr", "Learning rate"), ("batch", "Batch size"), ("settings", "Other swept settings")):
        if title in text:
            body.append((title, "".join(by_section.get(stem, [])) + bullets(text[title])))
    body.append(("Training curves", "".join(by_section.get("curves", [])) + bullets(text["Training curves"])))
    if data.decisions is not None and len(data.decisions):
        body.append(("Adaptive decisions", bullets(text.get("Adaptive decisions", []))
                     + table(DECISIONS_TABLE, [r | {"reason": decision_reason(r["reason"], r["a"], r["b"])}
                                              for r in data.decisions.to_dict("records")])))
    body = own_section_first(body, head.kind)
    rows = _table_rows(data)
    body.append((f"Runs ({len(rows)})", f'<p class="note">{esc(summary.CONVENTION)}. Eval loss in nats per '
                 f"token on held-out documents; gap = eval − train.</p>" + table(_runs_columns(data), rows, "status")))
    desc = data.study.description.strip()
    if desc:
        meta += f" · {desc}"
    return page(f"Study {data.study.name}", meta, head, warnings, body)
