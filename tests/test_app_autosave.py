"""The app's projects and autosaves under hostile files and a second instance (#32 items 1-3): a bad project is one
dialog and changes nothing, each instance has its own autosave, recovery offers only dead instances' autosaves."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from robustpaint.core.project import Project, load_project, save_project  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HUGE = 10**400
GOOD_STROKE = {"points": [[1.0, 2.0]], "brush": {"size": 3, "target": "image"}}


def _project(seed=0, **fields):
    image = np.random.default_rng(seed).random((32, 32, 3), dtype=np.float32)
    return Project(image=image, mask=np.zeros((32, 32), np.float32), model="tiny", task="sketch", **fields)


@pytest.fixture
def dialogs(monkeypatch):
    """Every warning shown, and the answers the Recover question gets (Yes unless a test says otherwise)."""
    from PySide6.QtWidgets import QMessageBox
    shown = {"warnings": [], "questions": [], "answer": QMessageBox.StandardButton.Yes}
    monkeypatch.setattr("robustpaint.app.files.QMessageBox.warning", lambda *a: shown["warnings"].append(a[2]))

    def question(*a, **k):
        shown["questions"].append(a[2])
        return shown["answer"]
    monkeypatch.setattr("robustpaint.app.files.QMessageBox.question", question)
    return shown


def _unchanged(window, before):
    return np.array_equal(window.document.image, before[0]) and window.undo_stack.count() == 0


@pytest.mark.parametrize("fields", [{"parameters": {"seed": HUGE}}, {"parameters": {"mix": ["dog", HUGE]}},
                                    {"strokes": [{"points": "ab", "brush": 3}]}, {"strokes": [7]}])
def test_a_bad_project_opened_is_one_dialog_and_changes_nothing(qtbot, window, tmp_path, dialogs, fields):
    """Before: an OverflowError traceback out of File > Open for the seed; bad strokes opened, then raised when a
    model of another size resized the canvas."""
    save_project(_project(**fields), tmp_path / "bad.rpaint")
    before = window.document.state()
    assert not window.files.open_project(str(tmp_path / "bad.rpaint"))
    assert len(dialogs["warnings"]) == 1 and "bad.rpaint is damaged" in dialogs["warnings"][0]
    assert _unchanged(window, before) and window.files.project_path is None


def test_a_hostile_last_recipe_does_not_break_export_naming(qtbot, window, tmp_path):
    save_project(_project(last_recipe={"task": 5, "target": 3, "index": "x"}), tmp_path / "r.rpaint")
    assert window.files.open_project(str(tmp_path / "r.rpaint"))
    assert window.files.export_name().endswith("-001.png")


# --- autosaves of several instances --------------------------------------------------------------------------

DEAD_INSTANCE = """
import os, signal, sys
from robustpaint.app.files import autosave_lock
lock = autosave_lock(sys.argv[1])  # kept: a QLockFile collected unlocks
assert lock.tryLock(0)
os.kill(os.getpid(), signal.SIGKILL)  # died with its lock taken: the lock file stays, its process is gone
"""


def _dead_instance_autosave(project: Project, name="autosave-999-dead.rpaint") -> Path:
    """An autosave whose instance crashed: written, its lock taken by a process that was then killed."""
    from robustpaint.core.paths import user_data_dir
    path = user_data_dir() / name
    save_project(project, path)
    done = subprocess.run([sys.executable, "-c", DEAD_INSTANCE, str(path)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    assert path.with_suffix(".lock").exists()
    return path


def _paint(window, seed):
    from robustpaint.core.document import Document
    window.controls.live_check.setChecked(False)
    window.editor.replace(Document(np.random.default_rng(seed).random((32, 32, 3), dtype=np.float32)), "paint")


def test_two_instances_keep_their_own_autosaves_and_neither_takes_the_other_for_a_crash(qtbot, window, dialogs):
    """Before: both wrote autosave.rpaint; the second offered the first's live autosave for recovery ("No" deleted
    it) and a clean close of either deleted the other's."""
    from robustpaint.app.window import MainWindow
    _paint(window, 1)
    assert window.files.autosave()
    other = MainWindow(model_name="tiny")
    qtbot.addWidget(other)
    _paint(other, 2)
    assert other.files.autosave()
    mine, theirs = window.files.autosave_path(), other.files.autosave_path()
    assert mine != theirs and mine.exists() and theirs.exists()
    assert not other.files.offer_recovery() and not dialogs["questions"]  # a live instance's autosave: not offered
    assert mine.exists()
    other.close()  # a clean close removes its own autosave only
    assert not theirs.exists() and mine.exists()
    assert np.array_equal(load_project(mine).image, window.document.image)


def test_a_dead_instances_autosave_is_offered_and_recovered_as_this_instances_own(qtbot, window, dialogs):
    dead = _dead_instance_autosave(_project(seed=5, strokes=[GOOD_STROKE]))
    assert window.files.offer_recovery()
    assert len(dialogs["questions"]) == 1 and not dialogs["warnings"]
    assert np.array_equal(window.document.image, _project(seed=5).image) and not window.undo_stack.isClean()
    assert window.document.strokes == [GOOD_STROKE]
    # It is now this instance's autosave (kept until this instance saves anew or closes cleanly), offered no more.
    assert not dead.exists() and not dead.with_suffix(".lock").exists() and window.files.autosave_path().exists()
    assert not window.files.orphaned_autosaves()
    window.close()
    assert not window.files.autosave_path().exists()


def test_a_dead_instances_autosave_refused_is_removed(qtbot, window, dialogs):
    from PySide6.QtWidgets import QMessageBox
    dead = _dead_instance_autosave(_project(seed=5))
    dialogs["answer"] = QMessageBox.StandardButton.No
    before = window.document.state()
    assert not window.files.offer_recovery()
    assert not dead.exists() and not dead.with_suffix(".lock").exists() and _unchanged(window, before)


def test_a_damaged_autosave_is_one_dialog_kept_aside_and_not_offered_again(qtbot, window, dialogs):
    """Before: Recover: Yes raised OverflowError before the event loop, the app aborted ("QThread destroyed") and
    the file stayed, so every start crashed the same way."""
    dead = _dead_instance_autosave(_project(parameters={"seed": HUGE}))
    before = window.document.state()
    assert not window.files.offer_recovery()
    assert len(dialogs["warnings"]) == 1 and "damaged" in dialogs["warnings"][0]
    assert _unchanged(window, before) and not dead.exists()
    kept = list(dead.parent.glob("damaged-autosave-*.rpaint"))
    assert len(kept) == 1 and str(kept[0]) in dialogs["warnings"][0]  # kept for the user, under a name it gives
    dialogs["questions"].clear()
    assert not window.files.offer_recovery() and not dialogs["questions"]


def test_an_autosave_of_an_older_version_is_offered(qtbot, window, dialogs):
    """autosave.rpaint, as versions before per-instance autosaves wrote it (no lock): a crash's leftover."""
    from robustpaint.core.paths import user_data_dir
    save_project(_project(seed=3), user_data_dir() / "autosave.rpaint")
    assert window.files.offer_recovery()
    assert np.array_equal(window.document.image, _project(seed=3).image)
    assert not (user_data_dir() / "autosave.rpaint").exists()
