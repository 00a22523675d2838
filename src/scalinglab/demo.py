"""The one-command demo: the CPU crossover study, written into a working folder and run end to end.

The demo's study is derived in code from `studies/crossover-cpu.toml` (never a copied preset):
the full demo uses it as it is, `--quick` trims the ladder and the budgets so the whole pipeline
(tokenizer, training, fits, report) runs in a couple of minutes. The derived file is written into
the demo folder, so its results and report live there and a rerun reuses finished runs.
"""

from __future__ import annotations

from pathlib import Path

import tomli_w

from scalinglab.config import ConfigError, read_toml
from scalinglab.config.paths import make_folder, os_problem, write_atomically

STUDY_NAME = "crossover-cpu"

# --quick: three widths around the pivot (48), 5 tokens per parameter, and the data cut to the first
# 300 documents of the standard library: 1.4M train tokens, so no run sees a token twice (width 64
# reads 0.35 epochs). It answers in under a minute on 2 cores, with too few points for tight
# intervals; it exists to show the whole pipeline working (and for the tests).
QUICK = {
    "sweep": {"width": [32, 48, 64]},
    "budget": {"tokens_per_param": 5},
    "data": {"max_documents": 300},
}


def studies_dir() -> Path:
    """`studies/` of the source tree this package was installed from (pip install -e .)."""
    return Path(__file__).resolve().parents[2] / "studies"


def _name_and_description(study: dict, quick: bool, adaptive: bool) -> dict:
    """Each kind of demo under its own name (its own results: the adaptive demo does not reuse the
    fixed ladder's, the quick ones neither), described from the ladder it has."""
    if not (quick or adaptive):
        return study["study"]
    kinds = [kind for kind, wanted in (("quick", quick), ("adaptive", adaptive)) if wanted]
    widths = study["sweep"]["width"]
    span = f"{min(widths)}-{max(widths)}"
    ladder = f"the advised widths of {span} only" if adaptive else f"widths {span}"
    arms = " vs ".join(f"{name} LR {arm['lr']}" for name, arm in study["arms"].items())
    return {**study["study"], "name": "-".join(["crossover", *kinds]),
            "description": f"{' '.join(kinds)} demo: {arms}, {ladder}"}


def write_demo_study(out_dir: Path, quick: bool = False, adaptive: bool = False) -> Path:
    """Write the demo's study file into `out_dir` and return its path (unchanged if already there)."""
    source = studies_dir() / f"{STUDY_NAME}.toml"
    if not source.exists():
        raise ConfigError(f"{source}: the demo study is missing (scalinglab demo needs the source tree's studies/)")
    study = read_toml(source)
    if quick:
        for section, values in QUICK.items():
            study[section] = {**study.get(section, {}), **values}
    study["study"] = _name_and_description(study, quick, adaptive)
    name = study["study"]["name"]
    path = out_dir / f"{name}.toml"
    flags = (" --quick" if quick else "") + (" --adaptive" if adaptive else "")
    text = f"# Written by `scalinglab demo{flags}` from studies/{STUDY_NAME}.toml.\n"
    text += tomli_w.dumps(study)
    if not path.exists() or path.read_text() != text:
        make_folder(out_dir)
        try:
            write_atomically(path, text)
        except OSError as e:
            raise os_problem(path, e, "write the demo's study") from None
    return path
