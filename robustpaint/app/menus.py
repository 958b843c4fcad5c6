"""The window's menu bar: File, View, Edit, Run and Help, each entry wired to the part that does it (the files, the
canvas, the document, the run). Run > Device is the device menu's own (app/devices.py), Help is app/help.py's."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence

from robustpaint.app.help import add_help_menu
from robustpaint.core.document import Document


def add_action(window, menu, text: str, slot, key=None, checkable: bool = False) -> QAction:
    action = QAction(text, window, checkable=checkable)
    if key is not None:
        action.setShortcut(QKeySequence(key))
    if slot is not None:
        (action.toggled if checkable else action.triggered).connect(slot)
    menu.addAction(action)
    return action


def build_menus(window):
    """Fills the window's menu bar; returns the Run menu (the device menu adds its entries there)."""
    files = window.files
    file_menu = window.menuBar().addMenu("&File")
    for text, key, slot in (("&New…", QKeySequence.StandardKey.New, files.new_dialog),
                            ("Canvas si&ze…", QKeySequence("Ctrl+Alt+I"), files.resize_dialog),
                            ("&Open image or project…", QKeySequence.StandardKey.Open, files.open_dialog),
                            ("&Save project", QKeySequence.StandardKey.Save, files.save_project_dialog),
                            ("Save project &as…", QKeySequence("Ctrl+Shift+S"),
                             lambda: files.save_project_dialog(ask=True)),
                            ("&Export PNG…", QKeySequence("Ctrl+E"), files.export_dialog),
                            ("&Quit", QKeySequence.StandardKey.Quit, window.close)):
        add_action(window, file_menu, text, slot, key)
        if text.startswith("&Open"):
            window.recent_menu = file_menu.addMenu("Open &recent")
            window.recent_menu.aboutToShow.connect(lambda: files.fill_recent_menu(window.recent_menu))
    canvas = window.canvas
    view = window.menuBar().addMenu("&View")
    add_action(window, view, "Zoom &in", lambda: canvas.zoom_by(1.5), QKeySequence.StandardKey.ZoomIn)
    add_action(window, view, "Zoom &out", lambda: canvas.zoom_by(1 / 1.5), QKeySequence.StandardKey.ZoomOut)
    add_action(window, view, "&Fit to window", lambda: canvas.set_zoom(None), "Ctrl+0")
    add_action(window, view, "&Neuron browser", window.neurons.open, "Ctrl+Shift+N")
    preview = window.preview_dock.toggleViewAction()
    preview.setText("&Preview 1:1 and 2x")
    preview.setShortcut(QKeySequence("Ctrl+Shift+P"))
    view.addAction(preview)
    smooth = add_action(window, view, "&Smooth scaling", canvas.set_smooth, checkable=True)
    smooth.setChecked(True)  # a photo reads as a photo; off shows the pixels as blocks
    window.overlay_action = add_action(window, view, "Show &overlays (mask, regions, strength)",
                                       window.set_overlays, "H", checkable=True)
    window.overlay_action.setChecked(True)
    window.sketch_action = add_action(window, view, "Show the s&ketch (the drawing or photo under the result)",
                                      window.show_sketch, "K", checkable=True)
    edit = window.menuBar().addMenu("&Edit")
    undo = window.undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence("Ctrl+Z"))
    redo = window.undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcut(QKeySequence("Ctrl+Shift+Z"))
    edit.addActions([undo, redo])
    add_action(window, edit, "Undo &memory...", lambda _=False: ask_undo_budget(window))
    for text, change in (("&Invert mask", Document.invert_mask), ("&Clear mask", Document.clear_mask),
                         ("Clear class &regions", Document.clear_regions)):
        add_action(window, edit, text, lambda _=False, c=change, t=text: window.editor.edit(
            c, t.replace("&", "").lower()))
    run = window.menuBar().addMenu("&Run")
    add_action(window, run, "Run / pause", window.toggle_run, "Space")
    window.run_from_sketch_action = add_action(window, run, "Run again from the &sketch",
                                               window.editor.run_from_sketch, "Ctrl+R")
    add_help_menu(window)  # last in the bar; its shortcuts page reads the other menus when it opens
    return run


def ask_undo_budget(window) -> None:
    """Edit > Undo memory: how many MB the undo history may hold (its oldest steps go first past it)."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QInputDialog

    from robustpaint.app.undo import BUDGET_SETTING
    history = window.undo_stack
    megabytes, ok = QInputDialog.getInt(
        window, "Undo memory", f"Memory for undo steps, in MB (now {history.nbytes / 2**20:.0f} MB in "
        f"{history.count()} steps):", int(history.budget / 2**20), 16, 65536, 64)
    if ok:
        QSettings().setValue(BUDGET_SETTING, megabytes)
        history.set_budget(megabytes * 2**20)
