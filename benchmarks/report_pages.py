"""Each study type's report checked as a reader sees it: no overlapping text in a figure, no table
cut off in a real browser, and a screenshot of each page to look at.

For each kind of study (crossover, learning rate, batch size at one width and at several,
regularization, two regimes, a plain ladder) the report of a synthetic result table is written
(tests/report/synthetic.py: losses from known laws, no training); `--study FILE.toml [--results
DIR]` adds the report of a study's real results. Then:
- figures: report.style.render thins tick labels and checks every figure's text boxes when it saves
  it; each TextOverlapWarning it raises is counted here;
- page: Debian's Chromium, headless, opens index.html at a desktop width (1280 px) and a narrow one
  (760 px). A script added to a copy of the page lists every element whose content is wider than
  its box and does not scroll (clipped or spilling), and whether the page itself scrolls sideways
  (read back with --dump-dom);
- screenshots: the whole page at the desktop width, as PNG in --out.

Prints one line per report and exits 1 when a check fails.

    python benchmarks/report_pages.py --out /tmp/pages [--study STUDY.toml [--results DIR]]...
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.report.synthetic: the test suite's made-up studies

# The flags a headless Chromium needs on these machines (no sandbox as root, no network to reach).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=5000"]
WIDTHS = (1280, 760)
"""Window widths the page is checked at: a desktop, and a narrow window where wide tables must scroll."""

MEASURE = """<script>
window.addEventListener("load", () => {
  const root = document.documentElement;
  const out = {page: [root.scrollWidth, root.clientWidth], height: root.scrollHeight, cut: [], scrolling: 0};
  for (const el of document.querySelectorAll("body *")) {
    if (!el.clientWidth || el.scrollWidth <= el.clientWidth + 1) continue;
    const overflow = getComputedStyle(el).overflowX;
    if (overflow === "auto" || overflow === "scroll") { out.scrolling += 1; continue; }
    out.cut.push(`${el.tagName.toLowerCase()}.${el.className}: content ${el.scrollWidth} px in ${el.clientWidth} px` +
                 ` (overflow ${overflow})`);
  }
  document.body.setAttribute("data-measured", JSON.stringify(out));
});
</script>"""


def synthetic_reports(folder: Path) -> list[tuple[str, object]]:
    """(study type, StudyData) for each kind of study, from made-up results."""
    from tests.report import synthetic as s

    kinds = [("crossover", s.crossing_study), ("learning rate", s.lr_study), ("batch size", s.lr_batch_study),
             ("batch size by width", s.batch_study), ("regularization", s.l2_study), ("ladder", s.ladder_study)]
    out = []
    for name, make in kinds:
        out.append((name, make(folder / name.replace(" ", "-"), with_curves=True)))
    out.append(("two regimes", s.two_regimes_study(folder / "two-regimes")))
    return out


def write(name: str, data, out: Path, bootstrap: int) -> tuple[object, list[str], float]:
    """The report of `data` in out/<name>, with the overlap warnings its figures raised and the seconds."""
    from scalinglab.report import write_report
    from scalinglab.report.style import TextOverlapWarning

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TextOverlapWarning)
        result = write_report(data, out / name.replace(" ", "-"), bootstrap=bootstrap)
    overlaps = [str(w.message) for w in caught if issubclass(w.category, TextOverlapWarning)]
    return result, overlaps, time.perf_counter() - t0


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        sys.exit("chromium not found: apt-get install -y chromium")
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120)


def measure(page: Path, width: int, profile: Path) -> dict:
    """Open a copy of `page` with MEASURE added and read back what it found."""
    probe = page.with_name(".measure.html")
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    try:
        dom = chromium([f"--window-size={width},900", "--dump-dom", probe.as_uri()], profile).stdout
    finally:
        probe.unlink()
    found = re.search(r'data-measured="([^"]*)"', dom)
    if found is None:
        raise RuntimeError(f"{page}: the page measured nothing at {width} px (did Chromium load it?)")
    return json.loads(html.unescape(found.group(1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="Folder for the reports and the screenshots.")
    ap.add_argument("--study", type=Path, action="append", default=[], help="A study whose real results to add.")
    ap.add_argument("--results", type=Path, action="append", default=[],
                    help="The results folder of each --study, in order (default: the study's own).")
    ap.add_argument("--bootstrap", type=int, default=200)
    args = ap.parse_args()
    from scalinglab.config import load_study
    from scalinglab.report.collect import read_study

    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="report-pages-"))
    cases = synthetic_reports(work / "studies")
    for i, path in enumerate(args.study):
        study = load_study(path)
        results = args.results[i] if i < len(args.results) else study.default_out_dir()
        cases.append((f"study {study.name}", read_study(study, results)))
    failed = False
    for name, data in cases:
        result, overlaps, seconds = write(name, data, args.out, args.bootstrap)
        pages = {w: measure(result.index_html, w, work / "profile") for w in WIDTHS}
        shot = args.out / f"{name.replace(' ', '-')}.png"
        height = max(p["height"] for p in pages.values())
        chromium([f"--window-size={WIDTHS[0]},{height}", f"--screenshot={shot}", result.index_html.as_uri()],
                 work / "profile")
        problems = [f"figure text overlaps: {o}" for o in overlaps]
        for width, p in pages.items():
            if p["page"][0] > p["page"][1]:
                problems.append(f"at {width} px the page scrolls sideways ({p['page'][0]} px wide)")
            problems += [f"at {width} px {c}" for c in p["cut"]]
        failed |= bool(problems)
        figures = len([f for f in result.figures if f.suffix == ".png"])
        boxes = ", ".join(f"{w} px: {p['scrolling']} scrolling box(es)" for w, p in pages.items())
        print(f"{name:22s} {result.headline.kind:15s} {figures} figures, {len(overlaps)} with overlapping text; "
              f"{boxes}; {seconds:.1f} s; {shot}")
        for problem in problems:
            print(f"    FAIL {problem}")
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
