"""A recovered autosave comes back tied to the project file it was autosaving (#47 item 7): the title names that
file, Ctrl+S saves to it, and the document is marked modified (the file is older). Before, it came back untitled."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from robustpaint.core.document import Document  # noqa: E402
from robustpaint.core.project import Project, load_project, save_project  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEAD_INSTANCE = """
import os, signal, sys
from robustpaint.app.files import autosave_lock
lock = autosave_lock(sys.argv[1])  # kept: a QLockFile collected unlocks
assert lock.tryLock(0)
os.kill(os.getpid(), signal.SIGKILL)  # died with its lock taken: the lock file stays, its process is gone
"""


@pytest.fixture
def answers_yes(monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    warnings = []
    monkeypatch.setattr("robustpaint.app.files.QMessageBox.warning", lambda *a: warnings.append(a[2]))
    monkeypatch.setattr("robustpaint.app.files.QMessageBox.question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    return warnings


def _crashed(autosave: Path) -> Path:
    """The autosave as a crashed instance leaves it: under another instance's name, its lock taken by a process
    that was then killed."""
    dead = autosave.with_name("autosave-999-dead.rpaint")
    shutil.copy(autosave, dead)
    done = subprocess.run([sys.executable, "-c", DEAD_INSTANCE, str(dead)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    return dead


def _picture(seed):
    return np.random.default_rng(seed).random((32, 32, 3), dtype=np.float32)


def _second_window(qtbot):
    from robustpaint.app.window import MainWindow
    other = MainWindow(model_name="tiny")
    qtbot.addWidget(other)
    return other


def test_a_recovered_autosave_is_tied_to_its_project_file(qtbot, window, tmp_path, answers_yes):
    project = tmp_path / "castle.rpaint"
    save_project(Project(image=_picture(1), mask=np.zeros((32, 32), np.float32), model="tiny"), project)
    assert window.files.open_project(str(project))
    window.controls.live_check.setChecked(False)
    window.editor.replace(Document(_picture(2)), "paint")  # unsaved work on castle.rpaint
    assert window.files.autosave()
    dead = _crashed(window.files.autosave_path())

    other = _second_window(qtbot)  # the next start
    assert other.files.offer_recovery() and not answers_yes
    assert not dead.exists()
    assert other.files.project_path == str(project)
    assert other.windowTitle().startswith("castle.rpaint *")
    assert not other.undo_stack.isClean()  # the file is older than the work recovered
    assert np.array_equal(other.document.image, _picture(2))
    other.files.save_project_dialog()  # Ctrl+S: to the file, without asking where
    assert np.array_equal(load_project(project).image, _picture(2))
    assert other.undo_stack.isClean() and other.windowTitle().startswith("castle.rpaint —")
    other.close()


def test_an_untitled_autosave_comes_back_untitled(qtbot, window, answers_yes):
    window.controls.live_check.setChecked(False)
    window.editor.replace(Document(_picture(3)), "paint")
    assert window.files.autosave()
    _crashed(window.files.autosave_path())
    other = _second_window(qtbot)
    assert other.files.offer_recovery()
    assert other.files.project_path is None and other.windowTitle().startswith("untitled *")
    other.close()


def test_the_recovered_project_keeps_its_tie_through_the_next_autosave(qtbot, window, tmp_path, answers_yes):
    """The recovering instance autosaves it again tied to the same file (a second crash recovers it alike)."""
    project = tmp_path / "castle.rpaint"
    save_project(Project(image=_picture(1), mask=np.zeros((32, 32), np.float32), model="tiny"), project)
    assert window.files.open_project(str(project))
    window.controls.live_check.setChecked(False)
    window.editor.replace(Document(_picture(2)), "paint")
    assert window.files.autosave()
    _crashed(window.files.autosave_path())
    other = _second_window(qtbot)
    assert other.files.offer_recovery()
    other.editor.replace(Document(_picture(4)), "paint")
    assert other.files.autosave()
    third = _second_window(qtbot)
    _crashed(other.files.autosave_path())
    assert third.files.offer_recovery()
    assert third.files.project_path == str(project) and np.array_equal(third.document.image, _picture(4))
    other.close()
    third.close()
