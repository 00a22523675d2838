"""`scalinglab --help` answers at once: importing the CLI pulls in none of the heavy stack.

torch (~1 s), scipy and matplotlib are imported by the commands that train, fit or draw, never by
the CLI's own modules; `python benchmarks/startup.py` times the help of every command.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "matplotlib", "scipy", "pandas")


def _imported_by(code: str) -> set[str]:
    probe = f"import sys; {code}; print(__import__('json').dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_importing_the_cli_imports_no_heavy_library():
    loaded = _imported_by("import scalinglab.cli")
    assert not {m for m in HEAVY if m in loaded}


def test_every_help_page_renders_without_the_heavy_libraries():
    from typer.main import get_command

    from scalinglab.cli import app

    commands = sorted(get_command(app).commands)
    assert {"demo", "plan", "run", "status", "fit", "compare", "report", "train"} <= set(commands)
    # One process shows every page in turn: what any of them imports stays in sys.modules.
    code = (f"from scalinglab.cli import main\n"
            f"for argv in [[]] + [[c] for c in {commands!r}]:\n"
            f"    sys.argv = ['scalinglab', *argv, '--help']\n"
            f"    try:\n        main()\n    except SystemExit as e:\n        assert e.code == 0, argv")
    loaded = _imported_by(f"exec({code!r})")
    assert not {m for m in HEAVY if m in loaded}
