"""The task panel: model, task and the parameters of the selected task, as the registry declares them.

It emits `changed` when a value changes and gives the whole panel as one frozen `TaskParameters` value; it knows
nothing of runs, the canvas or the worker (the window tells it the canvas size and the model's card)."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSlider,
                               QSpinBox, QVBoxLayout, QWidget)
from superqt import QCollapsible, QLabeledDoubleSlider, QLabeledSlider, QLargeIntSpinBox, QSearchableComboBox

from robustpaint.core.classmap import PALETTE_NAMES
from robustpaint.core.catalog import accuracy_summary
from robustpaint.core.project import FEATURE_SLIDERS, MAX_UNIT, REGION_SLOTS, TaskParameters
from robustpaint.core.tasks import KNOBS, PHOTO_MODEL_SIDE, TASKS, get_task, keeps_photo, preset_values

NO_MIX = "(no mix)"
OTHER_CLASS = "(the other class)"  # translate on a two-class model: the class the picture does not read as
ARCH_WORDS = {"resnet18": "ResNet-18", "resnet50": "ResNet-50", "resnet9": "ResNet-9", "mobilenet_v2": "MobileNetV2",
              "imagenet_resnet18": "ResNet-18", "imagenet_resnet50": "ResNet-50"}


def card_input_size(model_name: str, fallback: int) -> int:
    """The input side a model's card gives, or its architecture's (`fallback` when the model or its card cannot be
    read: loading it reports why)."""
    from robustpaint.core.errors import RobustPaintError
    from robustpaint.core.models import ARCHITECTURES
    from robustpaint.core.catalog import find_model, read_card
    try:
        card = read_card(find_model(model_name).card_path)  # every field checked, as the worker's load does
    except RobustPaintError:
        return fallback
    arch = ARCHITECTURES.get(card["arch"])
    size = card.get("input_size", arch.input_size if arch else fallback)
    return size if isinstance(size, int) and 8 <= size <= 1024 else fallback


def card_in_words(card: dict) -> str:
    """The model card as a sentence ("robust ResNet-18 trained on Imagenette at 128 px; 84% of test images right,
    57% under attack"); the technical line goes in the tooltip."""
    kind = "robust" if card.get("robust") else "standard"
    dataset = str(card.get("dataset", "?")).split(" ")[0].removesuffix(".tar.gz")
    dataset = {"imagenette": "Imagenette", "cifar10": "CIFAR-10"}.get(dataset, dataset)
    text = (f"{kind} {ARCH_WORDS.get(card.get('arch'), card.get('arch'))} trained on {dataset} at "
            f"{card.get('input_size', '?')} px")
    snapshot = card.get("snapshot")
    if isinstance(snapshot, dict) and all(isinstance(snapshot.get(k), int) for k in ("after_epoch", "of_epochs")):
        text += f", a snapshot after epoch {snapshot['after_epoch']} of {snapshot['of_epochs']}"
    evaluation = (card.get("evaluations") or [{}])[-1]
    if isinstance(evaluation.get("clean_accuracy"), (int, float)):
        text += f"; {evaluation['clean_accuracy']:.0%} of test images right"
        if isinstance(evaluation.get("robust_accuracy"), (int, float)):
            text += f", {evaluation['robust_accuracy']:.0%} under attack"
    return text


def breakable(text: str, longest: int = 24) -> str:
    """`text` with invisible break points (zero-width spaces) after each '/' and every `longest` characters of a
    longer word, so that a wrapped label breaks a path or a hash instead of widening the panel past the window."""
    def split(word: str) -> str:
        if len(word) <= longest:
            return word
        word = word.replace("/", "/\u200b")
        return "\u200b".join(word[i:i + longest] for i in range(0, len(word), longest))
    return " ".join(split(word) for word in text.split(" "))


class FreedomSlider(QWidget):
    """How far the picture may move, as a multiple of the preset's radius, on a doubling scale (0.25x .. 4x in nine
    notches, 1x in the middle) between the painter's words for its ends. It keeps a value set off the notches (a
    project's or recipe's 1.5x) until the slider is moved."""

    valueChanged = Signal(float)
    NOTCHES = 4  # notches from the middle to either end; each pair of notches doubles the radius

    def __init__(self, help_text: str):
        super().__init__(toolTip=help_text)
        self._value = 1.0
        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=-self.NOTCHES, maximum=self.NOTCHES, value=0,
                              pageStep=1, tickInterval=1, tickPosition=QSlider.TickPosition.TicksBelow)
        self.readout = QLabel("1x", minimumWidth=36)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("close"))
        row.addWidget(self.slider, 1)
        row.addWidget(QLabel("free"))
        row.addWidget(self.readout)
        self.slider.valueChanged.connect(self._moved)

    def _moved(self, notch: int) -> None:
        self._show(2.0 ** (notch / 2))
        self.valueChanged.emit(self._value)

    def _show(self, value: float) -> None:
        self._value = value
        self.readout.setText(f"{value:.2g}x")

    def value(self) -> float:
        return self._value

    def setValue(self, value: float) -> None:
        import math
        self.slider.blockSignals(True)
        self.slider.setValue(max(-self.NOTCHES, min(self.NOTCHES, round(2 * math.log2(max(value, 1e-3))))))
        self.slider.blockSignals(False)
        changed = float(value) != self._value
        self._show(float(value))
        if changed:
            self.valueChanged.emit(self._value)

    def minimum(self) -> float:
        return KNOBS["freedom"].low

    def maximum(self) -> float:
        return KNOBS["freedom"].high

    def setMinimum(self, value) -> None:  # a value off the scale is kept as it is (_show_value widens sliders)
        pass

    def setMaximum(self, value) -> None:
        pass


def _slider(key: str):
    """A knob's slider over its panel range (whole numbers for an int knob)."""
    knob = KNOBS[key]
    slider = (QLabeledSlider if knob.kind == "int" else QLabeledDoubleSlider)(Qt.Orientation.Horizontal)
    slider.setRange(*knob.slider_range())
    if knob.default is not None:
        slider.setValue(knob.default)
    slider.setToolTip(knob.help)
    return slider


def _knob_widget(key: str):
    """The row of a knob that has no widget of its own: a slider, a check box or a list, from the table."""
    knob = KNOBS[key]
    if knob.kind == "bool":
        widget = QCheckBox(knob.label, toolTip=knob.help)
        widget.setChecked(bool(knob.default))
    elif knob.kind == "choice":
        widget = QComboBox(toolTip=knob.help)
        widget.addItems([str(c) for c in knob.choices])
        widget.setCurrentText(str(knob.default))
    elif knob.kind in ("int", "float"):
        widget = _slider(key)
    else:
        raise ValueError(f"the knob {key!r} is of kind {knob.kind!r}: the panel needs a widget made for it")
    return widget


def _widget_value(widget, key: str):
    knob = KNOBS[key]
    if knob.kind == "bool":
        return widget.isChecked()
    if knob.kind == "choice":
        return knob.choices[widget.currentIndex()]
    return widget.value()


def _show_value(widget, key: str, value) -> None:
    """Shows a value, widening a slider that stops short of it (a project's or recipe's value within the knob's
    valid range is kept, not clamped)."""
    knob = KNOBS[key]
    widget.blockSignals(True)
    if knob.kind == "bool":
        widget.setChecked(bool(value))
    elif knob.kind == "choice":
        widget.setCurrentText(str(value))
    else:
        if hasattr(widget, "maximum") and value > widget.maximum():
            widget.setMaximum(value)
        if hasattr(widget, "minimum") and value < widget.minimum():
            widget.setMinimum(value)
        widget.setValue(value)
    widget.blockSignals(False)


def offered_models(current: str = "") -> list[str]:
    """The installed models a user paints with, shipped first. Evaluators are standard classifiers kept for scoring:
    their gradients paint noise, so they are offered only when asked for by name (`current`)."""
    from robustpaint.core.catalog import list_models
    return [e.name for e in list_models() if e.role != "evaluator" or e.name == current]


class ModelCombo(QComboBox):
    """The Model list, read from disk again each time it opens or is stepped through while closed (arrow keys, the
    wheel): a model imported while the app runs (`robustpaint models import`) is offered without a restart. The
    chosen model stays listed (it is loaded) even if its file went away; choosing happens only by the user, so a
    refresh never starts a model load."""

    def showPopup(self):
        self.refresh()
        super().showPopup()

    def keyPressEvent(self, event):
        self.refresh()
        super().keyPressEvent(event)

    def wheelEvent(self, event):
        self.refresh()
        super().wheelEvent(event)

    def refresh(self) -> None:
        current = self.currentText()
        names = offered_models(current)
        if current and current not in names:
            names.append(current)
        if names == [self.itemText(i) for i in range(self.count())]:
            return
        with QSignalBlocker(self):
            self.clear()
            self.addItems(names)
            self.setCurrentIndex(self.findText(current))  # -1 when none was chosen: any pick is then a change


class TaskPanel(QWidget):
    model_chosen = Signal(str)
    changed = Signal()  # a value the run reads changed (the live run restarts)
    class_picked = Signal()  # a class was chosen from a class list: the keys go back to the canvas

    def __init__(self, models: list[str], model_name: str):
        super().__init__()
        form = QFormLayout(self)
        self.form = form
        self.canvas_size = (0, 0)  # the window sets it
        self.cards: dict[str, dict] = {}
        self.model_combo = ModelCombo()
        self.model_combo.addItems(models)
        if model_name in models:
            self.model_combo.setCurrentText(model_name)
        self.model_combo.currentTextChanged.connect(self.model_chosen)
        self.model_combo.currentTextChanged.connect(self._say_loading)
        form.addRow("Model", self.model_combo)
        self.card_label = QLabel("no model" if not models else "loading…", wordWrap=True)
        form.addRow(self.card_label)
        self.task_combo = QComboBox()
        for spec in TASKS.values():
            self.task_combo.addItem(spec.label, spec.name)
        self.task_combo.currentIndexChanged.connect(self._on_task_changed)
        form.addRow("Task", self.task_combo)
        self.class_combo = QSearchableComboBox()  # type to search (1000 classes for ImageNet models)
        self.class_combo.currentIndexChanged.connect(self.changed)
        self.class_combo.textActivated.connect(self.class_picked)
        features = QWidget()  # the feature sliders: up to three neurons, each with a strength (negative suppresses)
        features_layout = QVBoxLayout(features)
        features_layout.setContentsMargins(0, 0, 0, 0)
        self.feature_rows = []
        for i in range(FEATURE_SLIDERS):
            spin = QSpinBox(minimum=0, maximum=MAX_UNIT, value=i,
                            toolTip="representation unit (see the strongest classes it feeds on the right)")
            strength = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
            strength.setRange(-2.0, 2.0)
            strength.setValue(1.0 if i == 0 else 0.0)
            strength.setToolTip("strength: > 0 adds the feature, < 0 suppresses it, 0 leaves this neuron out")
            label = QLabel("")
            row = QHBoxLayout()
            row.addWidget(spin)
            row.addWidget(strength, 1)
            features_layout.addLayout(row)
            features_layout.addWidget(label)
            spin.valueChanged.connect(self.update_neuron_labels)
            spin.valueChanged.connect(self.changed)
            strength.valueChanged.connect(self.changed)
            self.feature_rows.append((spin, strength, label))
        regions = QWidget()  # the class of each region colour
        regions_layout = QFormLayout(regions)
        regions_layout.setContentsMargins(0, 0, 0, 0)
        self.region_class_combos = []
        for i in range(REGION_SLOTS):
            combo = QSearchableComboBox()
            regions_layout.addRow(PALETTE_NAMES[i], combo)
            combo.currentIndexChanged.connect(self.changed)
            combo.textActivated.connect(self.class_picked)
            self.region_class_combos.append(combo)
        self.temperature_slider = _slider("temperature")
        self.spread_slider = _slider("spread")
        mix = QWidget()
        mix_layout = QHBoxLayout(mix)
        mix_layout.setContentsMargins(0, 0, 0, 0)
        self.mix_combo = QSearchableComboBox()
        self.mix_combo.setToolTip(KNOBS["mix"].help)
        self.mix_combo.textActivated.connect(self.class_picked)
        self.mix_weight = _slider("mix")
        mix_layout.addWidget(self.mix_combo)
        mix_layout.addWidget(self.mix_weight, 1)
        self.candidates_spin = QSpinBox(minimum=1, maximum=int(KNOBS["candidates"].slider_range()[1]), value=1,
                                        toolTip=KNOBS["candidates"].help)
        self.eps_slider, self.step_slider, self.lam_slider = _slider("eps"), _slider("step"), _slider("lam")
        # a number typed or stepped, not dragged: a 35-px drag over 1..1000 turned 15 steps into 239 (#47)
        self.steps_spin = QSpinBox(minimum=int(KNOBS["steps"].low), maximum=int(KNOBS["steps"].slider_range()[1]),
                                   singleStep=10, toolTip=KNOBS["steps"].help, keyboardTracking=False)
        self.seed_spin = QLargeIntSpinBox()  # seeds reach 2**63 - 1, past a QSpinBox
        self.seed_spin.setToolTip(KNOBS["seed"].help)
        self.seed_spin.setRange(int(KNOBS["seed"].low), int(KNOBS["seed"].high))
        seed = QWidget()
        seed_layout = QHBoxLayout(seed)
        seed_layout.setContentsMargins(0, 0, 0, 0)
        another = QPushButton("Another", toolTip="another variation: a new random seed")
        another.clicked.connect(self.new_seed)
        seed_layout.addWidget(self.seed_spin, 1)
        seed_layout.addWidget(another)
        self.keep_photo_check = QCheckBox("Keep the photo's layout", toolTip=KNOBS["keep"].help)
        self.keep_photo_check.setChecked(True)
        self.keep_photo_check.toggled.connect(self.apply_preset)
        self.factor_combo = QComboBox(toolTip=KNOBS["factor"].help)  # factors that divide 32 and 128 px both
        self.factor_combo.addItems(["2", "4", "8"])
        self.factor_combo.setCurrentText(str(KNOBS["factor"].default))
        self.factor_combo.currentIndexChanged.connect(self.apply_preset)  # the radius depends on the factor
        widgets = {"class": self.class_combo, "neuron": features, "candidates": self.candidates_spin,
                   "regions": regions, "temperature": self.temperature_slider, "spread": self.spread_slider, "mix": mix, "eps": self.eps_slider,
                   "step": self.step_slider, "steps": self.steps_spin, "lam": self.lam_slider,
                   "seed": seed, "factor": self.factor_combo, "keep": self.keep_photo_check}
        # A knob the panel has no widget of its own for gets one from the table (a new knob is one table entry).
        used = {key for spec in TASKS.values() for key in spec.parameters}
        self.knob_widgets = {key: FreedomSlider(knob.help) if key == "freedom" else _knob_widget(key)
                             for key, knob in KNOBS.items() if key not in widgets and knob.label and key in used}
        for key, widget in self.knob_widgets.items():
            if key in ("freedom", "effort"):
                continue  # they move the radius and steps first, then say `changed` (_apply_mapping)
            signal = {"bool": "toggled", "choice": "currentIndexChanged"}.get(KNOBS[key].kind, "valueChanged")
            getattr(widget, signal).connect(self.changed)
        widgets.update(self.knob_widgets)
        self.rows = {key: ("" if KNOBS[key].kind == "bool" and key in self.knob_widgets else KNOBS[key].label,
                           widgets[key]) for key in KNOBS if key in widgets}
        # The painter's few decisions first; every knob behind Advanced, closed by default (#47).
        self.advanced = QCollapsible("Advanced", expandedIcon="▼", collapsedIcon="▶")
        advanced_page = QWidget()
        advanced_form = QFormLayout(advanced_page)
        advanced_form.setContentsMargins(0, 0, 0, 0)
        self.mapping_label = QLabel("", wordWrap=True, toolTip="what Freedom and Work set: the preset's radius, "
                                    "step size and steps, scaled")
        advanced_form.addRow(self.mapping_label)
        self.row_labels = {}
        for key, (label, widget) in self.rows.items():
            self.row_labels[key] = QLabel(label)
            (form if KNOBS[key].plain else advanced_form).addRow(self.row_labels[key], widget)
        for widget in (self.eps_slider, self.step_slider, self.steps_spin, self.lam_slider,
                       self.temperature_slider, self.spread_slider, self.mix_weight):
            widget.valueChanged.connect(self.changed)
        for widget in (self.eps_slider, self.step_slider, self.steps_spin):
            widget.valueChanged.connect(self._show_mapping)
        for key in ("freedom", "effort"):
            widget = self.knob_widgets[key]
            (widget.currentIndexChanged if key == "effort" else widget.valueChanged).connect(self._apply_mapping)
        preset = QPushButton("Reset to preset", toolTip="every value back to the task's preset for this model "
                                                         "and canvas (Freedom 1x, Work normal; the preset's reason, "
                                                         "and where it goes beyond the paper, in the tooltip of "
                                                         "Change allowed)")
        preset.clicked.connect(self.reset_to_preset)
        advanced_form.addRow(preset)
        self.advanced.addWidget(advanced_page)
        form.addRow(self.advanced)
        self._show_rows()  # the chosen task's rows only, from the start: not every task's while the model loads
        if models:
            self.card_label.setText(f"loading {model_name if model_name in models else models[0]}…")

    def _say_loading(self, name: str) -> None:
        """Which model is on its way, until its card arrives (a cached one shows at once)."""
        if name in self.cards:
            self.card_label.setText(card_in_words(self.cards[name]))
        elif name:
            self.card_label.setText(f"loading {name}…")

    def show_load_error(self, name: str, text: str) -> None:
        """Model `name` could not be loaded: its card's place says so ("could not load NAME: why"), not "loading…"
        for ever."""
        if name == self.model_name:
            self.card_label.setText(breakable(text))
            self.card_label.setToolTip(text)

    @property
    def task(self) -> str:
        return self.task_combo.currentData()

    @property
    def model_name(self) -> str:
        return self.model_combo.currentText()

    @property
    def has_models(self) -> bool:
        return self.model_combo.count() > 0

    def select_model(self, name: str) -> bool:
        """Selects an installed model (its card arrives by `set_model_card`); False when it is not installed."""
        if self.model_combo.findText(name) < 0:
            return False
        self.model_combo.setCurrentText(name)
        return True

    def model_side(self) -> int:
        return self.cards.get(self.model_name, {}).get("input_size", self.canvas_size[1])

    def classes(self) -> list[str]:
        return self.cards.get(self.model_name, {}).get("classes", [])

    @property
    def class_name(self) -> str:
        """The class field's text as typed (a run refuses a name the model does not know), or "" for the other
        class of a two-class translation (the task picks it)."""
        text = self.class_combo.currentText()
        return "" if text == OTHER_CLASS else text

    def parameters(self) -> TaskParameters:
        return TaskParameters(
            task=self.task, class_name=self.class_name, keep_photo=self.keep_photo_check.isChecked(),
            features=tuple((spin.value(), strength.value()) for spin, strength, _ in self.feature_rows),
            region_classes=tuple(c.currentText() for c in self.region_class_combos),
            candidates=self.candidates_spin.value(), temperature=self.temperature_slider.value(),
            spread=self.spread_slider.value(),
            mix_class="" if self.mix_combo.currentText() == NO_MIX else self.mix_combo.currentText(),
            mix_weight=self.mix_weight.value(), eps=self.eps_slider.value(), step_size=self.step_slider.value(),
            steps=self.steps_spin.value(), lam=self.lam_slider.value(), seed=self.seed_spin.value(),
            factor=int(self.factor_combo.currentText()),
            knobs=tuple(sorted((KNOBS[key].key, _widget_value(w, key)) for key, w in self.knob_widgets.items())))

    def set_parameters(self, p: TaskParameters) -> None:
        """Shows a project's parameters (no run restarts: `changed` is not emitted)."""
        self.blockSignals(True)
        index = self.task_combo.findData(p.task)
        if index >= 0:
            self.task_combo.setCurrentIndex(index)
        if self.factor_combo.findText(str(p.factor)) >= 0:  # these two apply the preset: before the values
            self.factor_combo.setCurrentText(str(p.factor))
        self.keep_photo_check.setChecked(p.keep_photo)
        widgets = (("eps", self.eps_slider, p.eps), ("step", self.step_slider, p.step_size),
                   ("steps", self.steps_spin, p.steps), ("lam", self.lam_slider, p.lam),
                   ("seed", self.seed_spin, p.seed), ("temperature", self.temperature_slider, p.temperature),
                   ("spread", self.spread_slider, p.spread), ("candidates", self.candidates_spin, p.candidates),
                   ("mix", self.mix_weight, p.mix_weight),
                   *((key, w, p.knob(KNOBS[key].key)) for key, w in self.knob_widgets.items()))
        for key, widget, value in widgets:
            _show_value(widget, key, value)
        if p.class_name:
            self.class_combo.setCurrentText(p.class_name)
        for combo, name in zip(self.region_class_combos, p.region_classes):
            combo.setCurrentText(name)
        for (spin, strength, _), (unit, weight) in zip(self.feature_rows, p.features):
            spin.setValue(unit)
            strength.setValue(weight)
        self.mix_combo.setCurrentText(p.mix_class or NO_MIX)
        self.blockSignals(False)
        self._show_rows()
        self.update_neuron_labels()
        self._show_mapping()

    def set_canvas_size(self, size: tuple[int, int]) -> None:
        """Another canvas size (opened, resized, undone across a resize): the radius and step size follow it, as
        the preset scales them; every other value stays as the painter set it (they all went back to the preset)."""
        self.canvas_size = size
        eps, step_size, _ = self._mapped()
        for key, widget, value in (("eps", self.eps_slider, eps), ("step", self.step_slider, step_size)):
            _show_value(widget, key, value)
        self._show_mapping()

    def set_model_card(self, name: str, card: dict) -> None:
        """A model's card arrived: its classes fill the combos; if it is the selected model, rows and presets
        follow it."""
        self.cards[name] = card
        if name != self.model_name:
            return
        classes = card["classes"]
        for i, combo in enumerate([self.class_combo, *self.region_class_combos]):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(classes)
            combo.setCurrentText(current if current in classes else classes[min(i, len(classes) - 1)])
            combo.blockSignals(False)
        self.mix_combo.clear()
        self.mix_combo.addItems([NO_MIX, *classes])
        units = len(card.get("neuron_classes", [])) or 4096
        for spin, _, _ in self.feature_rows:
            spin.setMaximum(units - 1)
        self.update_neuron_labels()
        self.card_label.setText(card_in_words(card))
        self.card_label.setToolTip(f"{card['arch']} on {card.get('dataset', '?')}; "
                                   f"{'robust' if card.get('robust') else 'not robust'}; {accuracy_summary(card)}")
        self._on_task_changed()

    def pick_neuron(self, unit: int) -> None:
        """A unit picked in the neuron browser becomes the first feature, and the task feature painting."""
        self.feature_rows[0][0].setValue(unit)
        if self.feature_rows[0][1].value() == 0:
            self.feature_rows[0][1].setValue(1.0)
        self.task_combo.setCurrentIndex(self.task_combo.findData("paint"))

    def _show_rows(self) -> None:
        visible = set(get_task(self.task).parameters)
        if self.model_side() < PHOTO_MODEL_SIDE:
            visible.discard("keep")  # "keep the photo" is a preset of photo models
        for key, (_, widget) in self.rows.items():
            widget.setVisible(key in visible)
            self.row_labels[key].setVisible(key in visible)

    def _on_task_changed(self) -> None:
        self._show_rows()
        self._offer_other_class()
        self.apply_preset()

    def _offer_other_class(self) -> None:
        """Translate on a two-class model (cat and dog) goes to the other class by default, as the paper's per-pair
        translation: the class list then starts with that choice (no target, the task picks it)."""
        classes = self.cards.get(self.model_name, {}).get("classes", [])
        offered = self.class_combo.findText(OTHER_CLASS) >= 0
        wanted = self.task == "translate" and len(classes) == 2
        if wanted == offered:
            return
        self.class_combo.blockSignals(True)
        if wanted:
            self.class_combo.insertItem(0, OTHER_CLASS)
            self.class_combo.setCurrentIndex(0)
        else:
            self.class_combo.removeItem(self.class_combo.findText(OTHER_CLASS))
        self.class_combo.blockSignals(False)

    def _mapped(self) -> tuple[float, float, int]:
        """The radius, step size and steps that Freedom and Work give for this task, model and canvas."""
        keep_photo = keeps_photo(self.keep_photo_check.isChecked(), self.model_side())
        factor, (h, w) = int(self.factor_combo.currentText()), self.canvas_size
        if self.task == "superres":  # its run makes a canvas `factor` times larger (#47 item 4): the preset is its
            from robustpaint.core.tasks.superres import canvas_input_size
            h, w = (side * factor for side in canvas_input_size(h, w, factor))
        return preset_values(self.task, h, w, factor=factor, model_side=self.model_side(), keep_photo=keep_photo,
                             freedom=self.knob_widgets["freedom"].value(), effort=self.effort)

    @property
    def effort(self) -> str:
        return _widget_value(self.knob_widgets["effort"], "effort")

    def _set_mapped(self) -> None:
        """The radius, step size and steps that Freedom and Work give, shown (no run restarts)."""
        for key, widget, value in zip(("eps", "step", "steps"), (self.eps_slider, self.step_slider, self.steps_spin),
                                      self._mapped()):
            _show_value(widget, key, value)  # widened where the slider stops short (a large canvas's eps and step)

    def _apply_mapping(self) -> None:
        """Freedom or Work moved: the radius, step size and steps follow (the other knobs stay as they are)."""
        self._set_mapped()
        self._show_mapping()
        self.changed.emit()

    def _show_mapping(self) -> None:
        """Says in Advanced what Freedom and Work set, and whether a value was changed by hand since."""
        eps, step_size, steps = self._mapped()
        shown = (self.eps_slider.value(), self.step_slider.value(), self.steps_spin.value())
        by_hand = not (abs(shown[0] - eps) <= 0.01 + 1e-6 * eps and abs(shown[1] - step_size) <= 0.01
                       and shown[2] == steps)
        self.mapping_label.setText(
            f"Freedom {self.knob_widgets['freedom'].value():.2g}x and {self.effort} work set: change allowed "
            f"{eps:.3g}, {steps} steps of {step_size:.3g}" + (" (changed by hand below)" if by_hand else ""))

    def reset_to_preset(self) -> None:
        """The Reset to preset button: Freedom 1x, normal work and every knob at the task's preset."""
        for key, value in (("freedom", 1.0), ("effort", "normal")):
            _show_value(self.knob_widgets[key], key, value)
        self.apply_preset()
        self.changed.emit()

    def apply_preset(self) -> None:
        spec = get_task(self.task)
        model_side = self.model_side()
        keep_photo = keeps_photo(self.keep_photo_check.isChecked(), model_side)
        eps, step_size, steps = self._mapped()
        values = (("eps", self.eps_slider, eps), ("step", self.step_slider, step_size),
                  ("steps", self.steps_spin, steps), ("lam", self.lam_slider, spec.default("lam")),
                  ("spread", self.spread_slider, spec.preset_for(model_side, keep_photo).spread))
        for key, widget, value in values:  # widened where the slider stops short (a large canvas's eps and step)
            _show_value(widget, key, value)
        preset_knobs = dict(spec.preset_for(model_side, keep_photo).knobs)
        for key, widget in self.knob_widgets.items():  # the preset's priors, or the table's defaults
            if not KNOBS[key].plain:  # Freedom and Work are the painter's: a new task or canvas keeps them
                _show_value(widget, key, preset_knobs.get(KNOBS[key].key, spec.default(key)))
        self.eps_slider.setToolTip(f"{KNOBS['eps'].help}; preset: {spec.preset_for(model_side, keep_photo).why}")
        self._show_mapping()

    def new_seed(self) -> None:
        """Another variation: a random seed (the run restarts if Live is on)."""
        import random
        self.seed_spin.setValue(random.randrange(0, 2**31))
        self.changed.emit()

    def summary(self, chosen: str | None = None) -> tuple[str, str]:
        """What a run of the panel as it is runs: a short line for the status bar (before each step's figures) and
        the values it comes to, for its tooltip. `chosen`: the class "(the other class)" went to, once the run
        has said."""
        p = self.parameters()
        subject = {"paint": "features " + ", ".join(f"{u}" for u, w in p.features if w),
                   "superres": f"x{p.factor}", "classmap": "the class of each region"}.get(
            p.task, p.class_name or chosen or "the other class")
        short = f"{get_task(p.task).label} → {subject} · freedom {p.knob('freedom'):.2g}x · {p.knob('effort')} work"
        return short, (f"{short}: {p.steps} steps of {p.step_size:.3g}, change allowed {p.eps:.3g}, with "
                       f"{self.model_name}")

    def update_neuron_labels(self) -> None:
        classes = self.cards.get(self.model_name, {}).get("neuron_classes", [])
        for spin, _, label in self.feature_rows:
            unit = spin.value()
            label.setText(f"unit {unit} feeds: {', '.join(classes[unit])}" if unit < len(classes) else "")
