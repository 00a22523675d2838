"""analysis works on plain tables: importing it must not pull in torch (ARCHITECTURE: rules of the house)."""

from __future__ import annotations

import subprocess
import sys


def test_analysis_does_not_import_torch():
    code = "import sys, scalinglab.analysis; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
