"""Run > Device and Run > Fast bf16 steps: where the steps run, as the worker reports it, and the user's choice.

The worker says which devices this machine has and which one the models are on (`on_device_ready`, a signal
payload: nothing is read from the worker's thread); a choice stops a run whose tensors live on the old device and
asks the worker to move the models."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup


class DeviceMenu(QObject):
    move_to = Signal(str)  # the device the worker should move the models to ("auto", "cpu", "cuda:0", ...)
    ready = Signal(str)  # the device the models now run on (after a change)

    def __init__(self, window, run_menu, choice: str = "auto"):
        super().__init__(window)
        from robustpaint.core.device import cpu_supports_bf16
        self.window = window
        self.device = ""  # what the worker runs on, once it says so ("auto" until then)
        self.auto_device = ""  # what "auto" means on this machine, once the worker says
        self.choice = choice  # the user's setting, kept across sessions
        self.bf16_action = QAction("Fast &bf16 steps", window, checkable=True)
        self.bf16_action.setToolTip("bf16 autocast where it is faster (GPUs, CPUs with bf16 units except for "
                                    "MobileNetV2), slightly different pixels")
        self.bf16_action.setChecked(cpu_supports_bf16())
        run_menu.addAction(self.bf16_action)
        self.menu = run_menu.addMenu("&Device")  # filled when the worker has looked for GPUs
        self.menu.setToolTip("where the steps run: a GPU when there is one (auto), else the CPU")
        self.group = QActionGroup(window)

    def on_device_ready(self, devices: list, device: str, bf16_faster: bool) -> None:
        changed = device != self.device
        self.device = device
        if self.choice != "auto" and self.choice not in devices:
            self.choice = "auto"  # a setting from another machine: not saved again
        self.menu.clear()
        for action in self.group.actions():
            self.group.removeAction(action)
        auto = self.auto_device = devices[1] if len(devices) > 1 else "cpu"  # what resolve_device("auto") picks
        for name in ["auto", *devices]:
            action = self.menu.addAction(name if name != "auto" else f"auto ({auto})")
            action.setCheckable(True)
            action.setChecked(name == self.choice)
            action.triggered.connect(lambda _=False, n=name: self.choose(n))
            self.group.addAction(action)
        if changed:
            self.bf16_action.setChecked(bf16_faster)
            self.ready.emit(device)

    def choose(self, name: str) -> None:
        """Stops the run, paused or not (its tensors live on the old device), and moves the models to `name`."""
        from robustpaint.app.run_session import RunState
        if name == self.choice:
            return
        if (self.auto_device if name == "auto" else name) == self.device:  # auto (cpu) -> cpu: the same device
            self.choice = name
            return
        session = self.window.session
        if session.state is not RunState.IDLE:
            session.halt()
            self.window.statusBar().showMessage(f"run stopped at step {session.steps_done} to move the models to "
                                                f"{name}; what it made so far is one undo step. Run starts again "
                                                f"there.", 10000)
        self.choice = name
        self.move_to.emit(name)
