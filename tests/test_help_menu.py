"""#47 item 2: the Help menu. Getting started shows the four workflows with pictures that ship in the package, the
shortcuts page lists the keys the window's actions really have, About names every shipped model's data terms."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QUrl  # noqa: E402
from PySide6.QtGui import QAction, QKeySequence, QTextDocument  # noqa: E402

from robustpaint.app import help as app_help  # noqa: E402
from robustpaint.app.tools import TOOLS, TOOL_LABELS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = ("Getting started", "Keyboard shortcuts", "About RobustPaint")


def _help_menu(window):
    last = window.menuBar().actions()[-1]
    assert app_help.plain(last.text()) == "Help", "Help is the last menu of the bar"
    return last.menu()


def _open(qtbot, window, entry: str):
    """Triggers a Help entry as a click does; returns its dialog, shown and not modal (the test goes on)."""
    action = next(a for a in _help_menu(window).actions() if app_help.plain(a.text()) == entry)
    action.trigger()
    dialog = next(d for d in window.help_dialogs.values() if d.windowTitle() == entry)
    qtbot.waitUntil(dialog.isVisible)
    assert not dialog.isModal()
    return dialog


@pytest.fixture
def opened(qtbot, window):
    """Opens Help entries by name; closes every help dialog afterwards (no window is left open)."""
    yield lambda entry: _open(qtbot, window, entry)
    for dialog in getattr(window, "help_dialogs", {}).values():
        dialog.close()


def test_the_help_menu_has_its_three_entries_and_each_opens_its_page(window, opened):
    assert [app_help.plain(a.text()) for a in _help_menu(window).actions()] == list(ENTRIES)
    for entry, heading in zip(ENTRIES, ("Getting started", "Keyboard shortcuts", "RobustPaint ")):
        dialog = opened(entry)
        assert dialog.windowTitle() == entry
        assert dialog.browser.toPlainText().startswith(heading)
    assert all(d.isVisible() for d in window.help_dialogs.values())
    again = opened("About RobustPaint")  # a second click shows the same window again, not a second one
    assert len(window.help_dialogs) == 3 and again is window.help_dialogs["about"]


def test_the_shortcuts_page_lists_every_key_of_the_window(window, opened):
    rows = app_help.shortcut_rows(window)
    assert {("Edit", "Undo", "Ctrl+Z"), ("File", "Export PNG", "Ctrl+E"), ("Run", "Run / pause", "Space"),
            ("Help", "Getting started", "F1"), ("Painting", "Swap colours", "X"),
            ("Painting", "Smaller brush", "[")} <= set(rows)  # the last two: keys in no menu
    assert [(what, keys) for group, what, keys in rows if group == "Tools"] == [
        (TOOL_LABELS.get(name, name.capitalize()), key) for name, key in TOOLS]
    listed = {keys for _, _, keys in rows}
    for action in window.findChildren(QAction):  # nothing with a key is left out
        if action.shortcuts():
            assert app_help.keys_text(action) in listed, action.text()
    text = " ".join(opened("Keyboard shortcuts").browser.toPlainText().split())
    for _, what, keys in rows:
        assert f"{keys} {what}" in text


def test_the_shortcuts_page_follows_the_actions_not_a_table(window, opened):
    export = next(a for a in window.findChildren(QAction) if app_help.plain(a.text()) == "Export PNG")
    export.setShortcut(QKeySequence("Ctrl+Alt+E"))
    text = " ".join(opened("Keyboard shortcuts").browser.toPlainText().split())
    assert "Ctrl+Alt+E Export PNG" in text and "Ctrl+E Export PNG" not in text
    start = " ".join(opened("Getting started").browser.toPlainText().split())
    assert "Export PNG (Ctrl+Alt+E)" in start  # the page names the keys the same way


def test_about_names_the_version_the_model_in_use_and_every_shipped_models_data(window, opened):
    from robustpaint import __version__
    from robustpaint.core.catalog import list_models, read_card
    text = " ".join(opened("About RobustPaint").browser.toPlainText().split())
    assert f"RobustPaint {__version__}" in text
    assert "Model in use: tiny" in text
    shipped = [e for e in list_models() if e.origin == "shipped"]
    assert shipped, "the package ships models"
    for entry in shipped:
        card = read_card(entry.card_path)
        assert entry.name in text
        terms = app_help.data_terms(card)
        assert " ".join(terms.split()) in text
        assert any(word in terms for word in ("ImageNet", "CIFAR-10", "Asirra")), entry.name
    for licence in ("MIT licence", "GNU LGPL version 3", "BSD 3-Clause"):
        assert licence in text


def test_data_terms_come_from_the_card_or_from_its_data_sets_name():
    assert app_help.data_terms({"dataset": "x", "licence": "Only on Sundays."}) == "Only on Sundays."
    cifar = app_help.data_terms({"dataset": "cifar10 (cifar10-jpeg.tar.gz: 50,000 train)"})
    assert cifar.startswith("Trained on CIFAR-10 (Krizhevsky, 2009)") and "no licence" in cifar
    assert "non-commercial" in app_help.data_terms({"dataset": "imagenette (224 px)"})
    assert "names no licence" in app_help.data_terms({"dataset": "synthetic"})
    assert "names no licence" in app_help.data_terms({})


def test_the_projects_licence_is_the_one_pyproject_declares():
    declared = re.search(r'^license = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert app_help.PROJECT_LICENCE == declared


def test_getting_started_pictures_ship_in_the_package_and_show(window, opened):
    from PIL import Image

    from robustpaint.core.paths import resources_dir
    names = {n for pair in app_help.PICTURES.values() for n in pair} | {app_help.RECIPE_PICTURE}
    spec = importlib.util.spec_from_file_location("check_wheel", ROOT / "packaging" / "check_wheel.py")
    check_wheel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_wheel)
    members = set(check_wheel.required_members())  # what packaging/check_wheel.py fails a wheel without
    for name in names:
        path = resources_dir() / "help" / name
        assert path.is_file(), path
        assert path.stat().st_size < 80_000, f"{name}: keep the help pictures small"
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 128
        assert f"robustpaint/resources/help/{name}" in members
    dialog = opened("Getting started")
    document = dialog.browser.document()
    for name in names:  # the page found every picture (a missing one shows as a broken-image box)
        image = document.resource(QTextDocument.ResourceType.ImageResource, QUrl(name))
        assert image is not None and not image.isNull(), name
    text = " ".join(dialog.browser.toPlainText().split())
    for words in ("Sketch to image", "Inpaint", "Translate", "Export PNG"):
        assert words in text
    assert "class church" in text and "model imagenette_resnet18" in text  # read from the church picture's recipe
