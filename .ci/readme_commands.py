#!/usr/bin/env python3
"""Runs every command of README.md, on small inputs, and fails naming each one that failed (#47 item 12).

Three README examples once failed with the default model (each needed its `--model`); nothing ran them. This script
reads README.md, finds every command in it, and runs each in README order in one scratch folder (so `replay` finds
what `generate` wrote and `eval` the model that `train` made), with its own user data and cache folders:

- found: every command line of a ```bash block (a `\\` continues a line, `#` starts a comment), every line of
  another block that runs `robustpaint`, and every inline `code span` that runs `robustpaint`;
- made small: task commands take `--steps 2` and at most 2 images (`-n`), `neurons` draws 1 unit, training runs
  1 epoch of 1 batch of 8, `eval` attacks 8 images with 2 steps;
- inputs: the files a command names (photo, drawing, mask, strength map, class map) are generated in the scratch
  folder under the README's names, at sizes that keep the canvas the photo's own; `--data cifar10` (a download)
  and the data sets the README names (`my_images/`, `imagenette-224.tar.gz`) are stand-ins of a few generated
  images per class in the same layout; the authors' `.pt` checkpoints are stand-ins of their layout (module.model.*
  keys) and class count, on a ResNet-18;
- optional words (`classify photo.png [--json]`): the command runs without them and with them;
- not run: the commands in SKIP, each with its reason, and those in SLOW unless --slow. A command found that is
  neither run nor on those lists fails the check (tests/test_readme_commands.py checks this without running
  anything, and that every command and its small form parse).

Usage: python .ci/readme_commands.py [--list] [--keep DIR] [--only TEXT] [--slow]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Commands that are not run, by their text as found (whitespace collapsed, comments dropped), each with the reason.
SKIP: dict[str, str] = {
    "python3 -m venv .venv && .venv/bin/pip install torch==2.14.1 torchvision==0.29.1 --index-url "
    "https://download.pytorch.org/whl/cpu && .venv/bin/pip install \".[test]\"":
        "installs the project (a download); .ci/run makes its environment the same way",
    "python3 -m venv .venv && .venv/bin/pip install torch==2.14.1 torchvision==0.29.1 && .venv/bin/pip install "
    "\".[test]\"":
        "installs the project with CUDA's libraries (a 5.8 GB download); .ci/run installs the same pinned pair",
    ".venv/bin/robustpaint":
        "opens the app's window (needs a display); `doctor --gui` drives the same window offscreen (.ci/run)",
    "robustpaint":
        "opens the app's window (needs a display)",
    "robustpaint PHOTO.jpg":
        "opens the app's window with a file (needs a display)",
    "QT_QPA_PLATFORM=wayland robustpaint":
        "opens the app's window on Wayland (needs a Wayland display)",
    "QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q tests":
        "the test suite: .ci/run runs this very command before this script",
    "sudo apt-get install libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 "
    "libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 libfontconfig1 "
    "libdbus-1-3":
        "installs system libraries as root",
    "torchrun --nproc_per_node=4 -m robustpaint train --arch resnet18 --data cifar10 --out runs/r18 --device cuda":
        "needs 4 CUDA GPUs (the same `train` options run on the CPU above)",
    "robustpaint eval":
        "names the command in a sentence (no arguments); its examples run",
    "robustpaint seeds fit":
        "names the command in a sentence (no arguments); its examples run",
    "robustpaint replay":
        "names the command in a sentence (no arguments); `replay out/church-000.png --out again.png` runs",
    "robustpaint replay IN.png --out OUT.png":
        "a template (IN, OUT); `replay out/church-000.png --out again.png` runs",
    "robustpaint eval --model NAME --data cifar10-jpeg.tar.gz --norm l2 --eps 0.5 --steps 20 --limit 1000":
        "a template (NAME: each CIFAR-10 model); `eval --model runs/r18/model.safetensors ...` runs",
}

# Commands that run only with --slow, each with the reason: they would take CI minutes that other steps spend already.
SLOW: dict[str, str] = {
    "QT_QPA_PLATFORM=offscreen robustpaint doctor --gui --screenshot docs/screenshot.png":
        "drives the window offscreen through every task (2.5 min on 2 busy cores); .ci/run runs `robustpaint doctor "
        "--gui` from the installed wheel at its end",
}

TASKS = ("generate", "sketch", "inpaint", "translate", "superres", "paint")
PHOTO_SIZE = (192, 128)  # (w, h): a photo whose shorter side is the photo models' side keeps its size as the canvas
SMALL_SIZE = (48, 32)  # super-resolution's input: upsampled by --factor
STEPS = "2"
PER_COMMAND_TIMEOUT = 300  # seconds; each takes under 20 s on 2 busy cores


@dataclass
class Command:
    text: str  # as found, whitespace collapsed, comments dropped: the key of SKIP
    line: int  # README line
    words: list[str] = field(default_factory=list)


# --- finding the commands -------------------------------------------------------------------------------------

def _env_and_program(words: list[str]) -> tuple[list[str], list[str]]:
    """(leading VAR=value words, the rest)."""
    i = 0
    while i < len(words) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[i]):
        i += 1
    return words[:i], words[i:]


def runs_robustpaint(words: list[str]) -> bool:
    _, rest = _env_and_program(words)
    if not rest:
        return False
    if rest[0] == "robustpaint" or rest[0].endswith("/bin/robustpaint"):
        return True
    return "-m" in rest and rest.index("-m") + 1 < len(rest) and rest[rest.index("-m") + 1] == "robustpaint"


def _command(text: str, line: int) -> Command | None:
    try:
        words = shlex.split(text, comments=True)
    except ValueError:  # an unbalanced quote in prose
        return None
    if not words:
        return None
    return Command(" ".join(_shown(w) for w in words), line, words)


def _shown(word: str) -> str:
    """A word as the README writes it, for the SKIP keys: quoted where the shell needs it (`".[test]"`), not where
    brackets only mark it optional (`[--json]`)."""
    optional = re.fullmatch(r"\[[^\s\]]+\]", word)
    return f'"{word}"' if re.search(r"\s", word) or re.search(r"[\[\]*?$]", word) and not optional else word


def extract(text: str) -> list[Command]:
    """Every command of the README, in order: those of its code blocks, then within the prose (inline spans)."""
    found: list[Command] = []
    lines = text.split("\n")
    prose: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"\s*```(\w*)", lines[i])
        if not fence:
            prose.append((i + 1, lines[i]))
            i += 1
            continue
        shell = fence.group(1) in ("bash", "sh", "shell", "console")
        i += 1
        while i < len(lines) and not re.match(r"\s*```", lines[i]):
            start, joined = i + 1, lines[i]
            while joined.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                joined = joined.rstrip()[:-1] + " " + lines[i]
            i += 1
            command = _command(joined.removeprefix("$ "), start)
            if command is not None and (shell or runs_robustpaint(command.words)):
                found.append(command)
        i += 1  # the closing fence
    # inline spans, which may wrap across lines (paragraphs joined; a code span never holds a blank line)
    paragraph: list[tuple[int, str]] = []
    for number, line in [*prose, (0, "")]:
        if line.strip():
            paragraph.append((number, line))
            continue
        joined = " ".join(part for _, part in paragraph)
        for match in re.finditer(r"`([^`]+)`", joined):
            command = _command(match.group(1), _line_of(paragraph, match.start()))
            if command is not None and runs_robustpaint(command.words):
                found.append(command)
        paragraph = []
    return found


def _line_of(paragraph: list[tuple[int, str]], offset: int) -> int:
    for number, line in paragraph:
        if offset <= len(line):
            return number
        offset -= len(line) + 1
    return paragraph[-1][0]


# --- making them small -----------------------------------------------------------------------------------------

class Uncovered(Exception):
    """A README command this script can neither run nor finds on SKIP."""


def _option(words: list[str], name: str) -> str | None:
    for i, w in enumerate(words):
        if w == name and i + 1 < len(words):
            return words[i + 1]
        if w.startswith(name + "="):
            return w.split("=", 1)[1]
    return None


def _set(words: list[str], name: str, value: str, only_lower: bool = False) -> list[str]:
    """`name value` in the words: replaced where given (with `only_lower`, only by a smaller number), else added."""
    out = list(words)
    for i, w in enumerate(out):
        if w == name and i + 1 < len(out):
            if not only_lower or float(value) < float(out[i + 1]):
                out[i + 1] = value
            return out
    return [*out, name, value]


def _positional(words: list[str], after: int) -> list[str]:
    """The words after the sub-command that are neither options nor their values (every option here takes one,
    except the flags below)."""
    flags = {"--keep-photo", "--best", "--quiet", "--json", "--resume", "--gui", "--no-consistency", "--trust-pickle",
             "--no-card", "--update-shipped", "--fp32-weights", "--bf16"}
    values, skip = [], False
    for w in words[after:]:
        if skip:
            skip = False
        elif w.startswith("-"):
            skip = w not in flags and "=" not in w and not w.startswith("--no-")
        else:
            values.append(w)
    return values


@dataclass
class Plan:
    command: Command
    argv: list[str] | None  # None: skipped
    env: dict[str, str] = field(default_factory=dict)
    inputs: list[tuple[str, str, str | None]] = field(default_factory=list)  # (path, kind, the photo it matches)
    skip: str | None = None


def plan(command: Command, slow: bool = False) -> Plan:
    """How a README command runs here: its argv made small and the inputs it needs, or the reason it does not."""
    if command.text in SKIP:
        return Plan(command, None, skip=SKIP[command.text])
    if command.text in SLOW and not slow:
        return Plan(command, None, skip=SLOW[command.text] + " (run with --slow)")
    env_words, rest = _env_and_program(command.words)
    if not runs_robustpaint(command.words) or rest[0] not in ("robustpaint", ".venv/bin/robustpaint"):
        raise Uncovered(f"README line {command.line}: `{command.text}` is not a robustpaint command this script "
                        f"runs; make it run or add it to SKIP in .ci/readme_commands.py with the reason")
    env = dict(w.split("=", 1) for w in env_words)
    words = rest[1:]
    if not words or words[0].startswith("-") or "." in words[0]:
        raise Uncovered(f"README line {command.line}: `{command.text}` opens the app; add it to SKIP with the "
                        f"reason")
    sub = words[0]
    inputs: list[tuple[str, str, str | None]] = []
    positional = _positional(words, 1)
    if sub in TASKS:
        words = _set(words, "--steps", STEPS)
        if _option(words, "-n"):
            words = _set(words, "-n", "2", only_lower=True)
        photo = positional[0] if positional else None
        if photo:
            inputs.append((photo, "small" if sub == "superres" else "drawing" if sub == "sketch" else "photo", None))
        for name, kind in (("--mask", "mask"), ("--strength", "strength")):
            if _option(words, name):
                inputs.append((_option(words, name), kind, photo))
        if _option(words, "--class-map"):
            inputs.append((_option(words, "--class-map"), "class map", None))
    elif sub == "classify":
        inputs.append((positional[0], "photo", None))
    elif sub == "neurons":
        words = _set(words, "--first", "1")
    elif sub == "models" and positional[:1] == ["import"]:
        inputs.append((positional[1], "authors checkpoint", _option(words, "--dataset")))
    elif sub == "train":
        words = _set(_set(_set(words, "--epochs", "1"), "--max-batches", "1"), "--batch-size", "8")
    elif sub == "eval":
        words = _set(_set(_set(words, "--steps", STEPS), "--limit", "8"), "--batch-size", "8")
    elif sub == "doctor" and _option(words, "--screenshot"):
        inputs.append((str(Path(_option(words, "--screenshot")).parent), "folder", None))
    elif sub not in ("seeds", "replay", "models", "doctor", "snapshot"):
        raise Uncovered(f"README line {command.line}: `{command.text}`: no rule for `{sub}` here; add one to plan() "
                        f"in .ci/readme_commands.py or the command to SKIP with the reason")
    data = _option(words, "--data")
    if data is not None:
        stand_in = {"cifar10": "cifar10-stand-in"}.get(data, data)  # a download: a folder of the same layout
        words = [stand_in if (w == data and words[i - 1] == "--data") else w for i, w in enumerate(words)]
        inputs.append((stand_in, "data", None))
    return Plan(command, [sys.executable, "-m", "robustpaint", *words], env, inputs)


# --- inputs ------------------------------------------------------------------------------------------------------

def make_input(folder: Path, path: str, kind: str, matches: str | None) -> None:
    """The file (or folder) a command reads, generated under the README's name unless a command made it."""
    import numpy as np
    from PIL import Image

    target = folder / path
    if target.exists() or kind == "authors checkpoint" and target.with_suffix(".pt").exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path))

    def photo(w: int, h: int) -> np.ndarray:
        """A smooth picture with a few shapes: a sky, a ground, a sun and a block."""
        y, x = np.mgrid[0:h, 0:w] / max(h, w)
        img = np.stack([0.4 + 0.3 * y, 0.6 + 0.2 * y, 0.9 - 0.3 * y], -1)
        img[y > 0.45] = [0.35, 0.55, 0.25]
        img[(x - 0.7) ** 2 + (y - 0.2) ** 2 < 0.01] = [0.95, 0.85, 0.3]
        img[(abs(x - 0.35) < 0.12) & (abs(y - 0.45) < 0.15)] = [0.6, 0.3, 0.25]
        return (np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1) * 255).astype(np.uint8)

    def size_of(other: str | None) -> tuple[int, int]:
        return Image.open(folder / other).size if other and (folder / other).is_file() else PHOTO_SIZE

    if kind == "folder":
        target.mkdir(parents=True, exist_ok=True)
    elif kind in ("photo", "small"):
        Image.fromarray(photo(*(SMALL_SIZE if kind == "small" else PHOTO_SIZE))).save(target)
    elif kind == "drawing":
        w, h = PHOTO_SIZE
        img = np.full((h, w, 3), 255, np.uint8)
        img[20:100, 60:130] = [150, 60, 40]  # a house
        img[10:22, 70:120] = [90, 40, 30]
        img[100:, :] = [70, 140, 60]  # grass
        Image.fromarray(img).save(target)
    elif kind == "mask":
        w, h = size_of(matches)
        m = np.zeros((h, w), np.uint8)
        m[h // 3:2 * h // 3, w // 3:2 * w // 3] = 255
        Image.fromarray(m).save(target)
    elif kind == "strength":
        w, h = size_of(matches)
        Image.fromarray(np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))).save(target)
    elif kind == "class map":
        w, h = PHOTO_SIZE
        img = np.full((h, w, 3), 255, np.uint8)
        img[:, : w // 2 - 8] = [255, 0, 0]
        img[:, w // 2 + 8:] = [0, 255, 0]
        Image.fromarray(img).save(target)
    elif kind == "data":
        _data_stand_in(folder, target, photo)
    elif kind == "authors checkpoint":
        _authors_checkpoint(target, matches, path)
    else:
        raise ValueError(kind)


def _data_stand_in(folder: Path, target: Path, photo) -> None:
    """A data set of the layout `train` reads (train/<class>/, test/<class>/): 10 classes of 6 + 2 pictures, 32 px
    (64 px for a photo set), or a .tar.gz of one."""
    from PIL import Image
    archive = target.name.endswith((".tar.gz", ".tgz"))
    tree = folder / (target.name.split(".")[0] + "-tree") if archive else target
    side = 64 if archive else 32
    for split, count in (("train", 6), ("test", 2)):
        for c in range(10):
            (tree / split / f"class{c}").mkdir(parents=True, exist_ok=True)
            for k in range(count):
                img = photo(side, side)
                img[..., c % 3] = (img[..., c % 3] * (0.4 + 0.06 * c)).astype(img.dtype)  # each class its tint
                Image.fromarray(img).save(tree / split / f"class{c}" / f"{k}.png")
    if archive:
        import tarfile
        with tarfile.open(target, "w:gz") as tar:
            tar.add(tree, arcname=tree.name)


def _authors_checkpoint(target: Path, dataset: str | None, name: str) -> None:
    """A .pt in the robustness library's layout ({'model': module.model.* and module.normalizer.*}), with the class
    count its name or --dataset says, on a ResNet-18 (the README's files are ResNet-50s of 100 MB)."""
    import torch

    from robustpaint.core.models import CIFAR10_CLASSES, build_classifier
    if "cifar" in name:
        arch, classes = "resnet18", CIFAR10_CLASSES
    elif dataset in ("horse2zebra", "apple2orange", "summer2winter"):
        arch, classes = "imagenet_resnet18", ["a", "b"]
    else:
        arch, classes = "imagenet_resnet18", [str(i) for i in range(1000)]
    torch.manual_seed(0)
    net = build_classifier(arch, classes).net.state_dict()
    state = {f"module.model.{k}": v for k, v in net.items()}
    state["module.normalizer.new_mean"] = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    state["module.normalizer.new_std"] = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    torch.save({"model": state, "epoch": 1}, target)


# --- running -------------------------------------------------------------------------------------------------------

def variants(command: Command) -> list[Command]:
    """A command with optional words (`classify photo.png [--json]`) as it runs without them and with them."""
    optional = [w for w in command.words if re.fullmatch(r"\[[^\]]+\]", w)]
    if not optional or command.text in SKIP:
        return [command]
    without = [w for w in command.words if w not in optional]
    with_them = [w[1:-1] if w in optional else w for w in command.words]
    return [Command(command.text, command.line, without), Command(command.text, command.line, with_them)]


def plans(readme: Path = README, slow: bool = False) -> list[Plan]:
    """Every README command's plan in README order (so an output is there before the command that reads it), each
    command once (the first place it appears)."""
    seen, out = set(), []
    for command in sorted(extract(readme.read_text(encoding="utf-8")), key=lambda c: c.line):
        if command.text not in seen:
            seen.add(command.text)
            out.extend(plan(v, slow) for v in variants(command))
    return out


def run(plans_: list[Plan], folder: Path, only: str | None = None) -> int:
    env = {**os.environ, "ROBUSTPAINT_DATA_DIR": str(folder / "user-data"),
           "ROBUSTPAINT_CACHE_DIR": str(folder / "user-cache"), "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    failed, start, ran = [], time.perf_counter(), 0
    for p in plans_:
        if p.skip is not None:
            print(f"skipped  README line {p.command.line}: {p.command.text}\n         ({p.skip})", flush=True)
            continue
        if only and only not in p.command.text:
            continue
        for path, kind, matches in p.inputs:
            make_input(folder, path, kind, matches)
        began, cpu_before = time.perf_counter(), _children_cpu()
        try:
            done = subprocess.run(p.argv, cwd=folder, env={**env, **p.env}, capture_output=True, text=True,
                                  timeout=PER_COMMAND_TIMEOUT)
            code, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as exc:
            code, out, err = "timeout", exc.stdout or "", exc.stderr or ""
        took, cpu = time.perf_counter() - began, _children_cpu() - cpu_before
        ran += 1
        small = shlex.join(p.argv[2:]).removeprefix("robustpaint ")
        if code == 0 and "Traceback" not in err:
            print(f"ok {took:5.1f} s (CPU {cpu:5.1f} s) README line {p.command.line}: {p.command.text}\n"
                  f"         ran: {small}", flush=True)
            continue
        failed.append(p)
        tail = "\n".join(("         | " + line) for line in _last_lines(f"{out}\n{err}"))
        print(f"FAILED ({'exit ' + str(code) if code != 'timeout' else 'timed out'}, {took:.1f} s, CPU {cpu:.1f} s) "
              f"README line "
              f"{p.command.line}: {p.command.text}\n         ran: {small}\n{tail}", flush=True)
    total, cpu = time.perf_counter() - start, _children_cpu()
    skipped = sum(p.skip is not None for p in plans_)
    print(f"\n{ran} README commands run in {total:.0f} s ({cpu:.0f} s of CPU time in the commands), {skipped} skipped "
          f"(reasons above), {len(failed)} failed")
    for p in failed:
        print(f"failed: README line {p.command.line}: {p.command.text}")
    return 1 if failed else 0


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: a command's cost whatever else the machine runs."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _last_lines(text: str, n: int = 8) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r", "\n").split("\n") if line.strip()]
    return lines[-n:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print each command and how it runs; run nothing")
    parser.add_argument("--keep", metavar="DIR", help="run in DIR (made if needed) and keep what was written")
    parser.add_argument("--slow", action="store_true", help="also run the commands on SLOW")
    parser.add_argument("--only", metavar="TEXT", help="run only the commands whose text holds TEXT (and the "
                                                       "inputs they need)")
    args = parser.parse_args(argv)
    try:
        found = plans(slow=args.slow)
    except Uncovered as exc:
        print(f"readme_commands: {exc}", file=sys.stderr)
        return 1
    if args.list:
        for p in found:
            how = f"skipped: {p.skip}" if p.skip else "runs as: " + shlex.join(p.argv[2:]).removeprefix("robustpaint ")
            print(f"README line {p.command.line}: {p.command.text}\n    {how}")
        return 0
    if args.keep:
        folder = Path(args.keep).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return run(found, folder, args.only)
    with tempfile.TemporaryDirectory(prefix="readme-commands-") as tmp:
        return run(found, Path(tmp), args.only)


if __name__ == "__main__":
    raise SystemExit(main())
