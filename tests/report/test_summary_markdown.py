"""summary.md keeps a study's own text as text: Markdown renderers pass raw HTML through."""

from __future__ import annotations

from scalinglab.report.summary import markdown

HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(2)> & [/x]"


def test_the_study_name_and_description_are_escaped():
    doc = markdown({"study": {"name": "<b>s</b>", "description": HOSTILE}, "verdict": "B wins. B 2.1, A 2.2.",
                    "headline": {"kind": "crossover", "finding": ["B wins."], "forecast": "B 2.1, A 2.2."},
                    "runs": {"total": 2, "complete": 2, "diverged": 0, "failed": 0, "pending": 0, "running": 0},
                    "figures": ["loss.png"]}, [("Fits", ["A fits."])])
    assert "<script>" not in doc and "<img" not in doc and "<b>" not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt; &amp; [/x]" in doc
    assert "# Study &lt;b&gt;s&lt;/b&gt;" in doc
    assert "**Finding.** B wins.\n\n**Forecast.** B 2.1, A 2.2." in doc and "- A fits." in doc
