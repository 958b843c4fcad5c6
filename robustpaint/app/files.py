"""The window's files: open an image or a project, save, export a PNG with its recipe, recent files, the last folder
and the autosave. It holds that state (the project's path, the recent list) and changes the document only through
the window's `replace_document`, so a file that cannot be read changes nothing.

Autosaves: each app instance writes its own `autosave-PID-TOKEN.rpaint` in the user data folder, under a QLockFile
(`.lock` beside it) taken before its first write and released when it closes cleanly (which removes the autosave).
A lock whose process is gone is stale, so at start the autosaves of dead instances, and only those, are offered."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import numpy as np
from PySide6.QtCore import QDateTime, QLockFile, QObject, QTimer
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHeaderView, QLabel,
                               QMessageBox, QSpinBox, QTreeView)

from robustpaint.core.document import Document
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.paths import file_stem

RECENT_FILES = 10
from robustpaint.core.tasks.knobs import CANVAS_MIN as MIN_CANVAS  # the smallest side New and Canvas size offer
EXPORT_SIZES = {"the canvas's pixels (1x)": (1, True), "2x, smooth": (2, True), "4x, smooth": (4, True),
                "8x, smooth": (8, True), "4x, pixels as blocks": (4, False)}  # scale, smooth (Lanczos) or blocks


class ExportDialog(QFileDialog):
    """File > Export PNG: Qt's own save dialog (the same on every desktop) with a Size row under the file name, so
    the scale is in view rather than hidden in the file type; a name typed without .png gets it."""

    def __init__(self, parent, name: str, size: str, sizes: list[str] | None = None):
        """`sizes`: the names of EXPORT_SIZES to offer (all by default; the window offers those the readers take)."""
        super().__init__(parent, "Export PNG", name, "PNG image (*.png)")
        self.setOption(QFileDialog.Option.DontUseNativeDialog)  # a native dialog cannot hold the Size row
        self.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        self.setDefaultSuffix("png")
        self.size_combo = QComboBox(self, toolTip="how large the PNG is: smooth scaling for a picture, blocks to "
                                                  "see the pixels")
        self.size_combo.addItems(list(EXPORT_SIZES) if sizes is None else sizes)
        self.size_combo.setCurrentText(size)  # (a size not offered leaves the first one chosen)
        layout = self.layout()  # the non-native dialog's grid: the file name and type rows, then this one
        row = layout.rowCount()
        layout.addWidget(QLabel("Size:", self), row, 0)
        layout.addWidget(self.size_combo, row, 1)
        # the detail view's Size and Type columns were cut off ("285...KiB", "PN...ge") at Qt's default widths
        self.resize(max(self.width(), 820), max(self.height(), 480))
        details = self.findChild(QTreeView)
        if details is not None:
            header = details.header()
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
            for column in range(1, header.count()):
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)

    def chosen(self) -> tuple[str, str] | None:
        """The path and the size's name, or None when cancelled (the dialog runs modally)."""
        if self.exec() != QDialog.DialogCode.Accepted or not self.selectedFiles():
            return None
        return self.selectedFiles()[0], self.size_combo.currentText()


def ask_canvas_size(parent, title: str, size: tuple[int, int]) -> tuple[int, int] | None:
    """Width and height from a small dialog (MIN_CANVAS..CANVAS_MAX), or None when cancelled: (h, w)."""
    from robustpaint.core.tasks.knobs import CANVAS_MAX
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    form = QFormLayout(dialog)
    boxes = []
    for label, value in (("Width", size[1]), ("Height", size[0])):
        box = QSpinBox(dialog)
        box.setRange(MIN_CANVAS, CANVAS_MAX)
        box.setSuffix(" px")
        box.setValue(min(max(value, MIN_CANVAS), CANVAS_MAX))
        box.setToolTip(f"{MIN_CANVAS} to {CANVAS_MAX} pixels; the model judges a larger canvas at its own scale")
        form.addRow(label, box)
        boxes.append(box)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, dialog)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return boxes[1].value(), boxes[0].value()
IMAGE_FILTER = "Images and projects (*.png *.jpg *.jpeg *.bmp *.webp *.gif *.tif *.tiff *.rpaint)"
AUTOSAVES = "autosave*.rpaint"  # this version's autosave-PID-TOKEN.rpaint and older versions' autosave.rpaint
# The project file an autosave was autosaving, kept in the autosave's parameters (which a project's reader passes
# over where it does not know a key), so that a recovered autosave is tied to its file again (#47 item 7).
AUTOSAVE_OF = "autosave_of"


def autosave_lock(path: str | os.PathLike) -> QLockFile:
    """The lock of an autosave (`NAME.lock` beside it) that its instance holds while it runs: stale only when that
    process is gone (Qt checks the pid and holds an flock), never for its age, so a long session keeps it."""
    lock = QLockFile(str(Path(path).with_suffix(".lock")))
    lock.setStaleLockTime(0)
    return lock


class DocumentFiles(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.project_path: str | None = None
        self.last_folder = ""  # where the file dialogs open (the app keeps it between sessions)
        self.export_size = next(iter(EXPORT_SIZES))  # the Size of the last export, offered again
        self.recent_files: list[str] = []  # newest first (the app keeps them between sessions)
        self.instance = f"{os.getpid()}-{secrets.token_hex(4)}"  # names this instance's autosave
        self._autosave_lock: QLockFile | None = None  # held from the first autosave to a clean close
        self._autosaved_index = 0
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(30_000)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

    def _warn(self, title: str, text: str) -> None:
        QMessageBox.warning(self.window, title, text)

    # --- images and export -------------------------------------------------------------------------------

    def open_image(self, path: str, fit: str = "keep") -> bool:
        """The image as the new canvas: its own size and shape (`fit="keep"`) or its centre square ("crop"), at
        most CANVAS_MAX and at least the model's side; "scale" squeezes it to the canvas's present size."""
        from robustpaint.core.imageio import load_photo
        from robustpaint.core.tasks.knobs import CANVAS_MAX
        try:
            if fit == "scale":
                tensor, _, _ = load_photo(path, self.window.document.size, "scale")
            else:
                tensor, _, _ = load_photo(path, None, fit, CANVAS_MAX, min_side=self.window.panel.model_side())
        except RobustPaintError as exc:
            self._warn("Cannot open image", str(exc))
            return False
        # A new picture starts clean: the old mask, class regions and strength map belonged to the old one.
        self.window.editor.replace(Document(tensor[0].permute(1, 2, 0).numpy().astype(np.float32)), "open image")
        self.remember_file(path)
        return True

    def export_sizes(self) -> list[str]:
        """The names of EXPORT_SIZES whose PNG of this canvas the readers take (#46: 8x of a 1024-px canvas is
        67 M pixels, which `replay` and `classify` refuse; see imageio.check_export_size)."""
        from robustpaint.core.imageio import largest_readable_scale
        fits = largest_readable_scale(*self.window.document.size)
        return [name for name, (scale, _) in EXPORT_SIZES.items() if scale <= fits]

    def export_png(self, path: str, scale: int = 1, smooth: bool = True) -> bool:
        """The canvas as a PNG whose recipe replays it (`robustpaint replay`) when it came from a run: its own
        pixels, or `scale` times larger, smoothly (Lanczos) or as blocks. Never a size the readers refuse. The
        scaling and the encoding (seconds at 8x) run on a thread of their own, from a copy of the canvas, while a
        busy bar shows (`_off_the_gui_thread`)."""
        import torch

        from robustpaint.core.imageio import check_export_size, save_png
        recipe = dict(self.window.session.export_recipe() or {"task": "none", "note": "hand-drawn, no PGD run"})
        recipe["export_scale"] = scale
        if scale > 1:
            recipe["export_resample"] = "smooth" if smooth else "pixels"
        image = torch.from_numpy(self.window.document.image.copy()).permute(2, 0, 1)  # what the canvas is now
        h, w = image.shape[-2:]
        try:
            check_export_size(h, w, scale)
            self._off_the_gui_thread(f"Exporting a {w * scale}x{h * scale} PNG…",
                                     lambda: save_png(image, path, recipe, scale, smooth))
        except RobustPaintError as exc:
            self._warn("Cannot export", str(exc))
            return False
        self.window.statusBar().showMessage(f"exported {path}", 5000)
        return True

    def _off_the_gui_thread(self, label: str, work) -> None:
        """Runs `work()` on a thread of its own and returns when it is done (raising what it raised). Work that
        ends within 50 ms never shows anything; longer work shows a busy bar, window-modal, so the canvas keeps
        repainting while nothing can be edited, saved or exported meanwhile. The work is one Pillow call that
        cannot be stopped half-way, so the bar has no Cancel; the file is written atomically either way."""
        import threading

        from PySide6.QtCore import QEventLoop, Qt
        from PySide6.QtWidgets import QProgressDialog
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread, raised there
                outcome.append(exc)

        thread = threading.Thread(target=run, name="robustpaint-export")
        thread.start()
        thread.join(0.05)
        if thread.is_alive():
            busy = QProgressDialog(label, "", 0, 0, self.window)
            busy.setCancelButton(None)
            busy.setWindowTitle("Export PNG")
            busy.setWindowModality(Qt.WindowModality.WindowModal)
            busy.setMinimumDuration(0)
            busy.show()
            loop = QEventLoop()
            poll = QTimer(busy, interval=30)
            poll.timeout.connect(lambda: thread.is_alive() or loop.quit())
            poll.start()
            loop.exec()
            poll.stop()
            busy.close()
            busy.deleteLater()
        thread.join()
        if outcome:
            raise outcome[0]

    def export_name(self) -> str:
        """A file name after what made the canvas (task and class) and the first number not taken in the folder
        the dialog opens in: generate-church-001.png, or drawing-001.png for a canvas no run made."""
        recipe = self.window.session.export_recipe() or {}  # a project's recipe may hold anything
        classes = self.window.panel.cards.get(self.window.panel.model_name, {}).get("classes", [])
        task, index = recipe.get("task"), recipe.get("index", 0)
        parts = [task if isinstance(task, str) and task else "drawing"]
        target = recipe.get("target") or recipe.get("targets")
        if isinstance(target, list) and target and isinstance(index, int):  # the class shown (a batch's index)
            shown = target[min(max(index, 0), len(target) - 1)]
            if isinstance(shown, int) and 0 <= shown < len(classes):
                parts.append(classes[shown])
        stem = file_stem("-".join(parts))  # a name, not a path: the CLI's cleaning (core.paths)
        folder = Path(self._export_folder())
        number = 1
        while (folder / f"{stem}-{number:03d}.png").exists():
            number += 1
        return str(folder / f"{stem}-{number:03d}.png")

    def _export_folder(self) -> str:
        """The last folder used, else the user's pictures folder (not the folder the app was started from)."""
        from PySide6.QtCore import QStandardPaths
        return self.last_folder or QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation) \
            or str(Path.home())

    def export_dialog(self) -> None:
        """Asks where and how large (the size chosen last is offered again) and exports the result (the image, not
        the sketch layer, whichever is shown)."""
        chosen = ExportDialog(self.window, self.export_name(), self.export_size, self.export_sizes()).chosen()
        if chosen:
            path, self.export_size = chosen
            self._remember_folder(path)
            self.export_png(path, *EXPORT_SIZES[self.export_size])

    # --- projects ----------------------------------------------------------------------------------------

    def to_project(self):
        from robustpaint.core.project import Project
        window = self.window
        doc, panel = window.document, window.panel
        params = panel.parameters()
        return Project(image=doc.image, mask=doc.mask, regions=doc.regions, strength=doc.strength, sketch=doc.sketch,
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
        """Replaces the document with a saved project (one undo step); a damaged file is one dialog and changes
        nothing."""
        from robustpaint.core.project import load_project
        try:  # the whole project is read and checked (load_project's one gate) before anything changes
            project = load_project(path)
        except RobustPaintError as exc:
            self._warn("Cannot open project", str(exc))
            return False
        return self._show_project(project, path, recovered)

    def _show_project(self, project, path: str, recovered: bool) -> bool:
        parameters = project.task_parameters
        from robustpaint.core.tasks.knobs import fit_canvas
        h, w = project.image.shape[:2]
        try:
            fitted = fit_canvas(h, w, f"project {Path(path).name}")
        except ValueError as exc:
            self._warn("Cannot open project", str(exc))
            return False
        document = Document(project.image)
        document.mask = project.mask
        document.strokes = list(project.strokes)
        if project.regions is not None:
            document.regions = project.regions
        if project.strength is not None:
            document.strength = project.strength
        document.sketch = project.sketch
        window = self.window
        if fitted != (h, w):  # a project past the canvas limit opens scaled to it, and says so
            document.resize(*fitted)
        window.editor.replace(document, "open project", recipe=project.last_recipe if fitted == (h, w) else None)
        if fitted != (h, w):
            window.statusBar().showMessage(f"the project is {w}x{h}: opened scaled to {fitted[1]}x{fitted[0]}, the "
                                           f"canvas limit (save it to keep it at this size)", 15000)
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

    def new_document(self, size: tuple[int, int] | None = None) -> None:
        """A blank white canvas of `size` (h, w; default: the present one), one undo step; the project becomes
        untitled."""
        h, w = size or self.window.document.size
        self.window.editor.replace(Document(np.ones((h, w, 3), np.float32)), "new")
        self.project_path = None
        self.window.update_title()

    def new_dialog(self) -> None:
        """File > New: asks the canvas's size (the present one offered), after Save / Discard / Cancel of unsaved
        work (New replaced it without a word)."""
        if not self.window.unsaved_work_may_go("a new canvas replaces it"):
            return
        size = ask_canvas_size(self.window, "New canvas", self.window.document.size)
        if size is not None:
            self.new_document(size)

    def resize_canvas(self, size: tuple[int, int]) -> None:
        """The picture scaled to `size` (h, w) with its mask, regions and strokes: one undo step."""
        window = self.window
        if size == window.document.size:
            return
        window.editor.cancel_stroke()  # a stroke being drawn is not scaled into the new canvas
        old, document = window.document.size, window.document.copy()
        document.resize(*size)
        window.editor.replace(document, f"canvas to {size[1]}x{size[0]}", new_picture=False)
        window.statusBar().showMessage(f"canvas resized from {old[1]}x{old[0]} to {size[1]}x{size[0]}", 10000)

    def resize_dialog(self) -> None:
        """Image > Canvas size."""
        size = ask_canvas_size(self.window, "Canvas size", self.window.document.size)
        if size is not None:
            self.resize_canvas(size)

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
            action.triggered.connect(lambda _=False, p=path: self.window.unsaved_work_may_go(
                "opening another picture") and self.open_path(p))
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
        if not self.window.unsaved_work_may_go("opening another picture"):
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Open", self.last_folder, IMAGE_FILTER)
        if path:
            self._remember_folder(path)
            self.open_path(path)

    def _ask_fit(self, path: str) -> str:
        """For a non-square image, asks whether to keep its shape (the default) or take its centre square."""
        from PIL import Image
        try:
            with Image.open(path) as img:
                square = img.width == img.height
        except Exception:  # noqa: BLE001 - open_image reports unreadable files with its own message
            return "keep"
        if square:
            return "keep"
        box = QMessageBox(QMessageBox.Icon.Question, "Open image", "The image is not square. Open it:",
                          parent=self.window)
        keep = box.addButton("Keep its shape", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Centre square", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return "keep" if box.clickedButton() is keep else "crop"

    # --- autosave ----------------------------------------------------------------------------------------

    def autosave_path(self) -> Path:
        """This instance's autosave."""
        from robustpaint.core.paths import user_data_dir
        return user_data_dir() / f"autosave-{self.instance}.rpaint"

    def autosave(self) -> bool:
        """Writes the autosave file when there are unsaved changes (every 30 s); the previous one stays intact."""
        from robustpaint.core.project import save_project
        undo = self.window.undo_stack
        if undo.isClean() and not self.autosave_path().exists():
            return False
        if undo.changes == self._autosaved_index:  # the index stops moving once the history is full
            return False
        project = self.to_project()
        if self.project_path:  # the file it is the unsaved work of, which a recovery opens it as
            project.parameters = {**project.parameters, AUTOSAVE_OF: os.path.abspath(self.project_path)}
        try:
            self._hold_autosave_lock()  # before the file exists, so no other instance takes it for a crash's
            save_project(project, self.autosave_path())
        except RobustPaintError as exc:
            self.window.statusBar().showMessage(f"autosave failed: {exc}", 10000)
            return False
        self._autosaved_index = undo.changes
        return True

    def _hold_autosave_lock(self) -> None:
        if self._autosave_lock is None:
            try:
                self.autosave_path().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RobustPaintError(f"cannot make {self.autosave_path().parent}: {exc.strerror or exc}") from None
            lock = autosave_lock(self.autosave_path())
            if not lock.tryLock(0):
                raise RobustPaintError(f"cannot lock {self.autosave_path()} (error {lock.error().name})")
            self._autosave_lock = lock

    def orphaned_autosaves(self) -> list[Path]:
        """The autosaves of instances that are gone (their lock stale or missing), newest first; a live instance's
        autosave is never one. Stale locks with no autosave (killed before the first write) are removed."""
        from robustpaint.core.paths import user_data_dir
        folder, found = user_data_dir(), []
        try:  # an unreadable folder has nothing to offer; it must not stop the app from starting
            for lock_path in folder.glob("autosave*.lock"):
                if not lock_path.with_suffix(".rpaint").exists():
                    with self._claimed(lock_path):
                        pass
            for path in folder.glob(AUTOSAVES):
                if path != self.autosave_path() and path.is_file():
                    with self._claimed(path) as claimed:
                        if claimed:
                            found.append((path.stat().st_mtime, path))
        except OSError:
            pass
        return [path for _, path in sorted(found, reverse=True)]

    @contextlib.contextmanager
    def _claimed(self, path: Path):
        """Holds a gone instance's autosave lock (True) while the block runs, so no other starting instance acts on
        its autosave too; False when its instance still runs. Released (the lock file removed) after."""
        lock = autosave_lock(path)
        claimed = lock.tryLock(0)
        try:
            yield claimed
        finally:
            if claimed:
                lock.unlock()

    @staticmethod
    def autosaved_file(project) -> str | None:
        """The project file an autosave was the unsaved work of (None: an untitled canvas, an older version's
        autosave, or anything but an absolute .rpaint path)."""
        from robustpaint.core.project import SUFFIX
        path = project.parameters.get(AUTOSAVE_OF)
        if isinstance(path, str) and os.path.isabs(path) and path.endswith(SUFFIX) and "\0" not in path:
            return path
        return None

    def recover_autosave(self, path: Path | None = None) -> bool:
        """Opens a gone instance's autosave (by default the newest) as unsaved changes; it becomes this instance's
        own autosave. An autosave of a project file is tied to that file again: the title names it, Ctrl+S saves to
        it, and the changes stay unsaved (the file is older). A damaged one is one dialog, moved aside as
        `damaged-...` (kept, not offered again)."""
        from robustpaint.core.project import load_project
        if path is None:
            orphans = self.orphaned_autosaves()
            if not orphans:
                return False
            path = orphans[0]
        with self._claimed(path) as claimed:
            if not claimed or not path.is_file():
                return False
            try:
                project = load_project(path)
            except RobustPaintError as exc:
                kept = self._set_aside(path)
                self._warn("Cannot recover the autosave", f"{exc}\n\nThe autosave was kept as {kept}."
                           if kept else str(exc))
                return False
            if not self._show_project(project, str(path), recovered=True):
                return False
            self._tie_to(self.autosaved_file(project))
            try:  # adopted: this instance's lock first, then the file under its name (one rename)
                self._hold_autosave_lock()
                os.replace(path, self.autosave_path())
            except (OSError, RobustPaintError) as exc:  # the old file stays, offered again next time
                self.window.statusBar().showMessage(f"the recovered autosave stays at {path}: {exc}", 10000)
            self._remove_temporaries(path)
        return True

    def _tie_to(self, project_file: str | None) -> None:
        """A recovered autosave of `project_file` (None: of an untitled canvas) becomes that file's unsaved work."""
        if project_file is None:
            return
        self.project_path = project_file
        self.window.update_title()
        name = os.path.basename(project_file)
        gone = "" if os.path.isfile(project_file) else f" ({name} is no longer there: Ctrl+S writes it again)"
        self.window.statusBar().showMessage(f"recovered the unsaved changes to {name}: Ctrl+S saves them to it"
                                            f"{gone}", 15000)

    def _set_aside(self, path: Path) -> Path | None:
        """Renames a damaged autosave out of the autosaves' names, to a name not taken."""
        number, kept = 1, path.with_name(f"damaged-{path.name}")
        while kept.exists():
            number += 1
            kept = path.with_name(f"damaged-{path.stem}-{number}.rpaint")
        try:
            os.replace(path, kept)
        except OSError:
            return None
        self._remove_temporaries(path)
        return kept

    @staticmethod
    def _remove_temporaries(path: Path) -> None:
        """A gone instance's half-written autosaves (atomic_path's `.NAME.*.tmp`): nobody will finish them."""
        with contextlib.suppress(OSError):
            for tmp in path.parent.glob(f".{path.name}.*.tmp"):
                tmp.unlink(missing_ok=True)

    def discard_autosave(self, path: Path) -> None:
        with self._claimed(path) as claimed:
            if claimed:
                with contextlib.suppress(OSError):  # it stays, offered again next time
                    path.unlink(missing_ok=True)
                self._remove_temporaries(path)

    def offer_recovery(self) -> bool:
        """At start: asks, newest first, whether to recover each autosave a gone instance left; No removes it. True
        when one was recovered (the others stay for the next start)."""
        for path in self.orphaned_autosaves():
            try:
                when = QDateTime.fromSecsSinceEpoch(int(path.stat().st_mtime)).toString("d MMM yyyy hh:mm")
            except OSError:
                continue
            answer = QMessageBox.question(self.window, "Recover", "RobustPaint did not close cleanly. Recover the "
                                          f"painting it autosaved at {when}?")
            if answer == QMessageBox.StandardButton.Yes:
                if self.recover_autosave(path):
                    return True
            else:
                self.discard_autosave(path)
        return False

    def closed_cleanly(self) -> None:
        self.autosave_timer.stop()
        with contextlib.suppress(OSError):
            self.autosave_path().unlink(missing_ok=True)  # a clean close: nothing to recover next time
        if self._autosave_lock is not None:
            self._autosave_lock.unlock()
            self._autosave_lock = None
