"""The Help menu: Getting started (the four workflows in pictures), Keyboard shortcuts and About. The shortcuts and
the keys the pages name are read from the window's own actions, so neither can drift from the keys that work; the
data terms come from the model cards."""

from __future__ import annotations

import html

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

from robustpaint.core.paths import resources_dir

# Getting started's pictures (made by resources/help/make_pictures.sh): a workflow's input and its result.
PICTURES = {"sketch": ("sketch-before.png", "sketch-after.png"),
            "inpaint": ("inpaint-before.png", "inpaint-after.png"),
            "translate": ("translate-before.png", "translate-after.png")}
RECIPE_PICTURE = "sketch-after.png"  # the one that keeps the recipe the CLI wrote: Export shows what it holds

# For a card without a "licence" field: the data set its "dataset" field names and the terms of that data, in the
# words of the cards that have the field (CIFAR-10's page states no licence; it asks for its report to be cited).
DATA_TERMS = {"cifar10": "Trained on CIFAR-10 (Krizhevsky, 2009), whose page states no licence and asks users to "
                         "cite its report, Learning Multiple Layers of Features from Tiny Images.",
              "imagenette": "Trained on Imagenette, a subset of ImageNet, whose terms allow non-commercial research "
                            "and education only.",
              "pets": "Trained on cat and dog photos from the Asirra Cats vs Dogs collection (Microsoft Research), "
                      "redistributed for research use only."}
PROJECT_LICENCE = "MIT"  # pyproject.toml's license (tests check the two agree)


def help_dir():
    return resources_dir() / "help"


def plain(text: str) -> str:
    """A menu entry's words without its mnemonic and dots ("&Export PNG…" -> "Export PNG")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(".…").strip()


def keys_text(action: QAction) -> str:
    return ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())


def shortcut_rows(window) -> list[tuple[str, str, str]]:
    """(group, what, keys) for every action of the window that has a key: the menus' entries under each menu's name,
    the tools in the tool bar's order, then keys in no menu (swap colours, brush size)."""
    from robustpaint.app.tools import TOOLS
    rows, seen = [], set()

    def add(group: str, action: QAction) -> None:
        if action not in seen and action.shortcuts():
            seen.add(action)
            rows.append((group, plain(action.text()), keys_text(action)))

    def walk(menu, group: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), group)
            else:
                add(group, action)

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), plain(top.text()))
    for name, _key in TOOLS:
        add("Tools", window.tools.actions_by_tool[name])
    for action in window.findChildren(QAction):
        add("Painting", action)
    return rows


def key_of(rows: list[tuple[str, str, str]], what: str) -> str:
    """The keys of the action whose words are or start with `what` ("Undo" is "Undo stroke" after a stroke; "Show
    the sketch" has more words after it), "" when it has none."""
    return next((keys for _, text, keys in rows if text == what or text.startswith(what + " ")), "")


class HelpDialog(QDialog):
    """A page of rich text, filled again each time it is shown (the model in use, the keys)."""

    def __init__(self, window, title: str, fill, size: tuple[int, int]):
        super().__init__(window)
        self.setWindowTitle(title)
        self.fill = fill
        self.browser = QTextBrowser(openExternalLinks=True)
        self.browser.setSearchPaths([str(help_dir())])
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.resize(*size)

    def open_page(self) -> None:
        self.browser.setHtml(self.fill())
        self.show()
        self.raise_()
        self.activateWindow()


def add_help_menu(window):
    """Help: Getting started (F1), Keyboard shortcuts, About RobustPaint; each opens a window that stays open beside
    the canvas (not modal: one can paint while reading). The dialogs are kept in `window.help_dialogs`."""
    menu = window.menuBar().addMenu("&Help")
    window.help_dialogs = {}
    for key, text, title, fill, size, shortcut in (
            ("start", "&Getting started", "Getting started", getting_started_html, (760, 720),
             QKeySequence.StandardKey.HelpContents),
            ("keys", "&Keyboard shortcuts", "Keyboard shortcuts", shortcuts_html, (520, 640), None),
            ("about", "&About RobustPaint", "About RobustPaint", about_html, (780, 680), None)):
        action = QAction(text, window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _=False, k=key, t=title, f=fill, s=size: open_help(window, k, t, f, s))
        menu.addAction(action)
    return menu


def open_help(window, key: str, title: str, fill, size) -> HelpDialog:
    dialog = window.help_dialogs.get(key)
    if dialog is None:
        dialog = window.help_dialogs[key] = HelpDialog(window, title, lambda: fill(window), size)
    dialog.open_page()
    return dialog


# --- the pages ---------------------------------------------------------------------------------------------------

STYLE = ("<style>h2 { margin-bottom: 4px; } h3 { margin-top: 18px; margin-bottom: 4px; } "
         "td { padding: 2px 8px 2px 0; vertical-align: top; } th { text-align: left; padding-right: 8px; } "
         ".key { font-weight: bold; white-space: nowrap; } .note { color: #555; }</style>")


def _k(rows, what: str) -> str:
    """` (KEY)` after a named action, or nothing when it has no key."""
    keys = key_of(rows, what)
    return f" (<span class='key'>{html.escape(keys)}</span>)" if keys else ""


def _pair(name: str) -> str:
    before, after = PICTURES[name]
    return (f"<table><tr><td><img src='{before}'></td><td style='vertical-align: middle; font-size: 20pt'>"
            f"&#8594;</td><td><img src='{after}'></td></tr></table>")


def _task_label(name: str) -> str:
    from robustpaint.core.tasks import TASKS
    return f"<i>{html.escape(TASKS[name].label)}</i>"


def getting_started_html(window) -> str:
    """The four workflows in a painter's words, each with a before and after from the shipped models."""
    from robustpaint.app.task_panel import OTHER_CLASS
    rows = shortcut_rows(window)
    k = lambda what: _k(rows, what)  # noqa: E731
    keep = html.escape(plain(window.panel.keep_photo_check.text()))
    return STYLE + f"""
<h2>Getting started</h2>
<p>RobustPaint paints with an image classifier: a model that has learnt what a few kinds of things look like.
Pick a <b>task</b> and a <b>class</b> (the kind of thing you want) in the <i>Synthesis</i> panel on the right, press
<b>Run</b>{k("Run / pause")}, and watch the picture change step by step. {_classes_words(window)}</p>

<h3>1. From a sketch to a picture</h3>
{_pair("sketch")}
<p>Draw a rough picture with the brush{k("Brush")}: flat colours and simple shapes are enough. Choose the task
{_task_label("sketch")} and the class you drew (here <i>church</i>), then Run. Your shapes and colours stay where
you put them; the model adds the texture and detail of a photo. Your drawing is kept under the result:
<i>Show the sketch</i>{k("Show the sketch (the drawing or photo under the result)")} brings it back to paint on, and
<i>Run again from the sketch</i>{k("Run again from the sketch")} makes a new picture from it.</p>

<h3>2. Inpaint: fill a hole</h3>
{_pair("inpaint")}
<p>Open a photo{k("Open image or project")}. Paint over the part you want replaced with the mask
brush{k("Mask")}: it shows in see-through red (the unmask brush{k("Unmask")} takes it back). Choose
{_task_label("inpaint")} and Run: only the red part changes, filled so that it blends with the rest. Here the cat's
nose was masked and filled with fur by the cats-and-dogs model (<i>pets_resnet18</i>). Hide the red
overlay{k("Show overlays (mask, regions, strength)")} to see the result on its own.</p>

<h3>3. Translate: turn a photo into something else</h3>
{_pair("translate")}
<p>Open a photo, choose {_task_label("translate")} and the class it should become, then Run. The whole picture is
pushed towards that class while <i>{keep}</i> (on by default) keeps its layout. Here the same cat was pushed towards
<i>dog</i> by the cats-and-dogs model; on a model of two classes, <i>{html.escape(OTHER_CLASS)}</i> at the top of the
class list goes to whichever the photo is not. Expect a strange, painterly mix rather than a clean photo of the new
class.</p>

<h3>4. Export your picture</h3>
<table><tr><td><img src='{RECIPE_PICTURE}'></td><td>{_recipe_words()}</td></tr></table>
<p><i>Export PNG</i>{k("Export PNG")} in the File menu saves the picture, at its own size or 2, 4 or 8 times
larger. The PNG remembers how it was made (its <i>recipe</i>: the task, the class, the model and every setting), so
<code>robustpaint replay PICTURE.png</code> on the command line makes it again. To carry on painting another day,
save a project instead (<i>Save project</i>{k("Save project")}): it keeps the picture, your sketch, the mask and
the panel's settings.</p>

<p class='note'>Every stroke and every run can be undone{k("Undo")}. Help &gt; Keyboard shortcuts lists every
key.</p>
"""


def _classes_words(window) -> str:
    """What the model in use knows, from its card (the class list in the panel)."""
    card = window.panel.cards.get(window.panel.model_name, {})
    classes = [c.replace("_", " ") for c in card.get("classes", [])]
    if not classes:
        return "The class list shows what the model knows."
    shown = ", ".join(classes[:10]) + (f" and {len(classes) - 10} more" if len(classes) > 10 else "")
    return (f"The model in use, <i>{html.escape(window.panel.model_name)}</i>, knows {len(classes)} classes: "
            f"{html.escape(shown)}; the model list in the panel offers others.")


def _recipe_words() -> str:
    """What the recipe of the shipped church picture says, read from the PNG itself."""
    from robustpaint.core.catalog import find_model, read_card
    from robustpaint.core.errors import RobustPaintError
    from robustpaint.core.imageio import read_recipe
    from robustpaint.core.tasks import TASKS
    try:
        recipe = read_recipe(help_dir() / RECIPE_PICTURE)
    except RobustPaintError:
        return "This picture's recipe could not be read."
    target = (recipe.get("targets") or recipe.get("target") or [None])[0]
    try:
        classes = read_card(find_model(recipe.get("model")).card_path)["classes"]
        name = classes[target] if isinstance(target, int) else "?"
    except (RobustPaintError, IndexError):
        name = "?"
    task = TASKS[recipe["task"]].label if recipe.get("task") in TASKS else recipe.get("task", "?")
    lines = (("task", task), ("class", name), ("model", recipe.get("model", "?")),
             ("steps", recipe.get("steps", "?")), ("seed", recipe.get("seed", "?")))
    rows = "".join(f"<tr><td class='note'>{k}</td><td>{html.escape(str(v))}</td></tr>" for k, v in lines)
    return f"The church above, as exported, carries this recipe (and more):<table>{rows}</table>"


def shortcuts_html(window) -> str:
    """Every key of the window, grouped by menu, read from its actions."""
    body, group = [], None
    for name, what, keys in shortcut_rows(window):
        if name != group:
            group = name
            body.append(f"<tr><td colspan='2'><h3>{html.escape(name)}</h3></td></tr>")
        body.append(f"<tr><td class='key'>{html.escape(keys)}</td><td>{html.escape(what)}</td></tr>")
    return (STYLE + "<h2>Keyboard shortcuts</h2><p class='note'>The keys work wherever the keyboard focus is; only a "
            "class field, while you type in it, keeps letters for itself.</p><table>" + "".join(body) + "</table>")


def data_terms(card: dict) -> str:
    """What a model learnt from and the terms of that data: the card's own "licence" where it has one, else the
    words for the data set its "dataset" field names."""
    licence = card.get("licence")
    if isinstance(licence, str) and licence:
        return licence
    dataset = str(card.get("dataset", "")).split(" ")[0]
    if dataset in DATA_TERMS:
        return DATA_TERMS[dataset]
    return f"Trained on {dataset or 'data its card does not name'}; its card names no licence or terms for it."


def _version(package: str) -> str:
    from importlib import metadata
    try:
        return " " + metadata.version(package)
    except metadata.PackageNotFoundError:  # a bundle without the package's metadata
        return ""


def about_html(window) -> str:
    """The version, the model in use, every shipped model with the terms of its training data, the licences."""
    import robustpaint
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    from robustpaint.app.task_panel import card_in_words
    from robustpaint.core.catalog import list_models, read_card
    from robustpaint.core.errors import RobustPaintError

    name = window.panel.model_name
    in_use = window.panel.cards.get(name)
    rows = []
    for entry in sorted(list_models(), key=lambda e: (e.role == "evaluator", e.name)):  # the painting models first
        if entry.origin != "shipped":
            continue
        try:
            card = read_card(entry.card_path)
        except RobustPaintError as exc:
            rows.append(f"<tr><td>{html.escape(entry.name)}</td><td>{html.escape(str(exc))}</td></tr>")
            continue
        if in_use is None and entry.name == name:
            in_use = card
        use = "scores pictures (not for painting)" if entry.role == "evaluator" else "paints"
        rows.append(f"<tr><td><b>{html.escape(entry.name)}</b><br><span class='note'>{use}</span></td>"
                    f"<td>{html.escape(data_terms(card))}</td></tr>")
    model = html.escape(name or "none")
    if in_use:
        model += f": {html.escape(card_in_words(in_use))}. {html.escape(data_terms(in_use))}"
    return STYLE + f"""
<h2>RobustPaint {html.escape(robustpaint.__version__)}</h2>
<p>A painting program that makes pictures with a single robust image classifier, after Santurkar, Tsipras, Tran,
Ilyas, Engstrom and Madry, <i>Image Synthesis with a Single (Robust) Classifier</i> (NeurIPS 2019).</p>
<p><b>Model in use:</b> {model}</p>
<h3>The models that come with RobustPaint</h3>
<p class='note'>Each model learnt from a collection of photos, whose terms are below.</p>
<table><tr><th>model</th><th>the data it learnt from, and its terms</th></tr>{"".join(rows)}</table>
<h3>Licences</h3>
<ul>
<li>RobustPaint{_version("robustpaint")}: {PROJECT_LICENCE} licence.</li>
<li>Qt for Python (PySide6 {html.escape(pyside_version)}) and Qt {html.escape(qVersion())}: GNU LGPL version 3.</li>
<li>PyTorch{_version("torch")}: BSD 3-Clause licence.</li>
</ul>
<p class='note'>The other libraries it uses come under their own licences.</p>
"""
