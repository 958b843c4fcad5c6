"""Starts the desktop app."""

from __future__ import annotations

import os
import sys


def install_style(app) -> None:
    """The platform's style, but every list drops down below its box: Fusion (Qt's style on Linux) opens a list
    without a search field over its box at the current entry, so Task's list and Class's (which has one) opened in
    different places."""
    from PySide6.QtWidgets import QProxyStyle, QStyle

    class DropDownStyle(QProxyStyle):
        def styleHint(self, hint, option=None, widget=None, data=None):
            if hint == QStyle.StyleHint.SH_ComboBox_Popup:
                return 0
            return super().styleHint(hint, option, widget, data)

    if app.style().objectName() != "robustpaint-drop-down":  # once: the proxy's own name is empty
        style = DropDownStyle(app.style().name())
        style.setObjectName("robustpaint-drop-down")
        app.setStyle(style)


def open_at_start(window, path: str) -> bool:
    """`robustpaint FILE`: a project opens as saved; an image at its own size and shape (within the canvas's
    limits), as painting apps open a file they are given."""
    if path.lower().endswith(".rpaint"):
        return window.files.open_project(path)
    return window.files.open_image(path, fit="keep")


def run_app(argv: list[str] | None = None, path: str | None = None) -> int:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        print("robustpaint: no display found. Run the tasks headless with the command line ('robustpaint --help'), "
              "or set QT_QPA_PLATFORM=offscreen.", file=sys.stderr)
        return 2
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from robustpaint.app.window import MainWindow
    from robustpaint.core.paths import resources_dir

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("RobustPaint")
    install_style(app)
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "robustpaint.svg")))
    from PySide6.QtCore import QSettings

    settings = QSettings("RobustPaint", "RobustPaint")  # window size, docks and last folder from the last session
    window = MainWindow(device=str(settings.value("device", "auto") or "auto"))
    window.ask_before_closing = True
    window.files.last_folder = str(settings.value("last_folder", "") or "")
    recent = settings.value("recent_files") or []
    window.files.recent_files = [str(p) for p in (recent if isinstance(recent, list) else [recent])]
    if settings.value("geometry") is not None and window.restoreGeometry(settings.value("geometry")):
        window.restoreState(settings.value("state") or b"")
        window.show()
    else:
        screen = app.primaryScreen().availableGeometry() if app.primaryScreen() else None
        if screen is not None and (screen.width() < 1280 or screen.height() < 800):
            window.showMaximized()  # a small screen: use all of it
        else:
            window.resize(1200, 800)
            window.show()

    def remember() -> None:
        settings.setValue("geometry", window.saveGeometry())
        settings.setValue("state", window.saveState())
        settings.setValue("last_folder", window.files.last_folder)
        settings.setValue("recent_files", window.files.recent_files)
        settings.setValue("device", window.devices.choice)

    app.aboutToQuit.connect(remember)
    window.files.offer_recovery()  # the autosaves of instances that died, never a running one's
    if path is not None:
        open_at_start(window, path)
    code = app.exec()
    from robustpaint.app.run_session import stuck_threads
    if stuck_threads():  # a step stuck past the shutdown's wait: the interpreter's teardown would destroy its
        sys.stderr.flush()  # running QThread and abort; the work is saved and settings written by now
        os._exit(code)
    return code
