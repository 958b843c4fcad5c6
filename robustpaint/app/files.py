"""The window's files: open an image or a project, save, export a PNG with its recipe, recent files, the last folder
and the autosave. It holds that state (the project's path, the recent list) and changes the document only through
the window's `replace_document`, so a file that cannot be read changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

from robustpaint.core.document import Document
from robustpaint.core.errors import RobustPaintError

RECENT_FILES = 10
IMAGE_FILTER = "Images and projects (*.png *.jpg *.jpeg *.bmp *.webp *.gif *.tif *.tiff *.rpaint)"


class DocumentFiles(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.project_path: str | None = None
        self.last_folder = ""  # where the file dialogs open (the app keeps it between sessions)
        self.recent_files: list[str] = []  # newest first (the app keeps them between sessions)
        self._autosaved_index = 0
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(30_000)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

    def _warn(self, title: str, text: str) -> None:
        QMessageBox.warning(self.window, title, text)

    # --- images and export -------------------------------------------------------------------------------

    def open_image(self, path: str, fit: str = "crop") -> bool:
        from robustpaint.core.imageio import load_image
        try:
            tensor = load_image(path, size=self.window.document.size, fit=fit)
        except RobustPaintError as exc:
            self._warn("Cannot open image", str(exc))
            return False
        # A new picture starts clean: the old mask, class regions and strength map belonged to the old one.
        self.window.replace_document(Document(tensor[0].permute(1, 2, 0).numpy().astype(np.float32)), "open image")
        self.remember_file(path)
        return True

    def export_png(self, path: str, scale: int = 1) -> bool:
        """The canvas as a PNG whose recipe replays it (`robustpaint replay`) when it came from a run."""
        import torch

        from robustpaint.core.imageio import save_png
        recipe = dict(self.window.session.export_recipe() or {"task": "none", "note": "hand-drawn, no PGD run"})
        recipe["export_scale"] = scale
        try:
            save_png(torch.from_numpy(self.window.document.image).permute(2, 0, 1), path, recipe, scale)
        except RobustPaintError as exc:
            self._warn("Cannot export", str(exc))
            return False
        self.window.statusBar().showMessage(f"exported {path}", 5000)
        return True

    def export_dialog(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self.window, "Export PNG", self._in_last_folder("robustpaint.png"),
                                                   "PNG 1x (*.png);;PNG 4x (*.png);;PNG 8x (*.png)")
        if path:
            self._remember_folder(path)
            self.export_png(path, {"PNG 4x (*.png)": 4, "PNG 8x (*.png)": 8}.get(chosen, 1))

    # --- projects ----------------------------------------------------------------------------------------

    def to_project(self):
        from robustpaint.core.project import Project
        window = self.window
        doc, panel = window.document, window.panel
        params = panel.parameters()
        return Project(image=doc.image, mask=doc.mask, regions=doc.regions, strength=doc.strength,
                       model=panel.model_name, model_sha256=panel.cards.get(panel.model_name, {}).get(
                           "weights_sha256", ""), task=params.task, parameters=params.to_dict(),
                       strokes=list(doc.strokes), last_recipe=window.session.export_recipe())

    def save_project(self, path: str) -> bool:
        from robustpaint.core.project import save_project
        try:
            save_project(self.to_project(), path)
        except RobustPaintError as exc:
            self._warn("Cannot save project", str(exc))
            return False
        self.project_path = path
        self.window.undo_stack.setClean()
        self.window.statusBar().showMessage(f"saved {path}", 5000)
        self.remember_file(path)
        return True

    def save_project_dialog(self, ask: bool = False) -> None:
        path = self.project_path
        if ask or not path:
            path, _ = QFileDialog.getSaveFileName(self.window, "Save project",
                                                  path or self._in_last_folder("untitled.rpaint"),
                                                  "RobustPaint project (*.rpaint)")
            if path:
                self._remember_folder(path)
            if path and not path.endswith(".rpaint"):
                path += ".rpaint"
        if path:
            self.save_project(path)

    def open_project(self, path: str, *, recovered: bool = False) -> bool:
        """Replaces the document with a saved project (one undo step); a damaged file changes nothing."""
        from robustpaint.core.project import TaskParameters, load_project
        try:  # the whole project is read and checked before anything changes
            project = load_project(path)
            parameters = TaskParameters.from_dict(project.task, project.parameters, str(path))
        except RobustPaintError as exc:
            self._warn("Cannot open project", str(exc))
            return False
        document = Document(project.image)
        document.mask = project.mask
        document.strokes = list(project.strokes)
        if project.regions is not None:
            document.regions = project.regions
        if project.strength is not None:
            document.strength = project.strength
        window = self.window
        window.replace_document(document, "open project", recipe=project.last_recipe)
        panel = window.panel
        if project.model and not panel.select_model(project.model):
            window.statusBar().showMessage(f"the project used model {project.model!r}, which is not installed", 10000)
        panel.set_parameters(parameters)
        self.project_path = None if recovered else path
        if not recovered:
            self.remember_file(path)
            window.undo_stack.setClean()
        window.update_title()
        return True

    def new_document(self) -> None:
        """A blank white canvas of the same size (one undo step; the project becomes untitled)."""
        h, w = self.window.document.size
        self.window.replace_document(Document(np.ones((h, w, 3), np.float32)), "new")
        self.project_path = None
        self.window.update_title()

    # --- recent files, folders, dialogs ------------------------------------------------------------------

    def remember_file(self, path: str) -> None:
        """Puts an opened or saved file first in File > Open recent (the app keeps the list between sessions)."""
        path = os.path.abspath(path)
        self.recent_files = [path] + [p for p in self.recent_files if p != path][:RECENT_FILES - 1]

    def fill_recent_menu(self, menu) -> None:
        menu.clear()
        for path in self.recent_files:
            action = menu.addAction(os.path.basename(path))
            action.setToolTip(path)
            action.setEnabled(os.path.isfile(path))
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not self.recent_files:
            menu.addAction("(none yet)").setEnabled(False)

    def open_path(self, path: str) -> bool:
        """Opens a project (.rpaint) or an image, asking how to fit a non-square image."""
        if path.endswith(".rpaint"):
            return self.open_project(path)
        return self.open_image(path, fit=self._ask_fit(path))

    def _in_last_folder(self, name: str) -> str:
        return str(Path(self.last_folder) / name) if self.last_folder else name

    def _remember_folder(self, path: str) -> None:
        self.last_folder = str(Path(path).parent)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open", self.last_folder, IMAGE_FILTER)
        if path:
            self._remember_folder(path)
            self.open_path(path)

    def _ask_fit(self, path: str) -> str:
        """For a non-square image, asks whether to scale it (distorting) or centre-crop it to the canvas."""
        from PIL import Image
        try:
            with Image.open(path) as img:
                square = img.width == img.height
        except Exception:  # noqa: BLE001 - open_image reports unreadable files with its own message
            return "scale"
        if square:
            return "scale"
        box = QMessageBox(QMessageBox.Icon.Question, "Fit image", "The image is not square. Fit it to the canvas by:",
                          parent=self.window)
        crop = box.addButton("Centre crop", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Scale", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return "crop" if box.clickedButton() is crop else "scale"

    # --- autosave ----------------------------------------------------------------------------------------

    @staticmethod
    def autosave_path() -> Path:
        from robustpaint.core.paths import user_data_dir
        return user_data_dir() / "autosave.rpaint"

    def autosave(self) -> bool:
        """Writes the autosave file when there are unsaved changes (every 30 s); the previous one stays intact."""
        from robustpaint.core.project import save_project
        undo = self.window.undo_stack
        if undo.isClean() and not self.autosave_path().exists():
            return False
        if undo.index() == self._autosaved_index:
            return False
        try:
            save_project(self.to_project(), self.autosave_path())
        except RobustPaintError as exc:
            self.window.statusBar().showMessage(f"autosave failed: {exc}", 10000)
            return False
        self._autosaved_index = undo.index()
        return True

    def recover_autosave(self) -> bool:
        """Opens the autosave left by a session that did not close cleanly, as unsaved changes."""
        path = self.autosave_path()
        return path.exists() and self.open_project(str(path), recovered=True)

    def closed_cleanly(self) -> None:
        self.autosave_timer.stop()
        self.autosave_path().unlink(missing_ok=True)  # a clean close: nothing to recover next time
