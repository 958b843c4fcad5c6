"""The core and the CLI's non-GUI commands never import Qt."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
import robustpaint.core, robustpaint.core.pgd, robustpaint.core.tasks, robustpaint.core.objectives
import robustpaint.core.models.checkpoint, robustpaint.core.train.loop, robustpaint.core.imageio
from robustpaint.cli import main
for argv in (["models", "list"], ["classify", "missing.png"], ["generate", "--class", "cat", "--model", "nope"]):
    main(argv)
qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "superqt", "qtpy"))
print("QT_MODULES:" + ",".join(qt))
"""


def test_core_and_cli_commands_import_no_qt(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "", "ROBUSTPAINT_DATA_DIR": str(tmp_path)})
    assert "QT_MODULES:" in done.stdout, done.stderr[-2000:]
    assert done.stdout.strip().endswith("QT_MODULES:"), done.stdout
