"""The README's commands are all accounted for (#47 item 12): `.ci/readme_commands.py` finds every command in
README.md and runs each on small inputs in CI, except those it lists as skipped with a reason. These checks run
nothing: a new README command that the script would neither run nor skip, an option the parser does not know, or a
skip-list entry for a command the README no longer has fails here."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("readme_commands", ROOT / ".ci" / "readme_commands.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_commands"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_it_finds_the_readmes_commands_in_blocks_lines_and_prose(script):
    found = {c.text: c for c in script.extract((ROOT / "README.md").read_text(encoding="utf-8"))}
    for text in ("robustpaint generate --class church -n 8 --out out/",  # a block, its comment dropped
                 "robustpaint generate --class cat,dog -n 8 --grid grid.png --model resnet18",
                 "robustpaint classify photo.png [--json]",  # optional words kept as written
                 "robustpaint models list",
                 "torchrun --nproc_per_node=4 -m robustpaint train --arch resnet18 --data cifar10 --out runs/r18 "
                 "--device cuda",
                 # a `\` continued line, joined
                 "robustpaint train --arch resnet18 --data cifar10 --out runs/r18-more --epochs 8 --lr 0.1 --schedule "
                 "cosine --init runs/r18/model.safetensors --ema 0.998",
                 ".venv/bin/robustpaint",  # the app, in a block
                 "robustpaint inpaint photo.jpg --mask hole.png",  # prose
                 "robustpaint translate my_cat.jpg --model pets_resnet18",
                 "QT_QPA_PLATFORM=offscreen robustpaint doctor --gui --screenshot docs/screenshot.png"):
        assert text in found, text
    assert len(found) >= 40
    # the layout tree's `robustpaint/core/` and folder names such as `~/.local/share/robustpaint` are not commands
    assert not any(t.startswith(("robustpaint/", "~/")) for t in found)


def test_every_readme_command_runs_or_is_skipped_with_its_reason(script):
    plans = script.plans(slow=False)  # raises Uncovered for a command that is neither
    assert plans
    for plan in plans:
        assert (plan.argv is None) == (plan.skip is not None), plan.command.text
        if plan.skip is not None:
            assert len(plan.skip) > 10, plan.command.text  # a reason, not a marker
    ran = {p.command.text for p in plans if p.argv}
    assert "robustpaint generate --class church -n 8 --out out/" in ran
    assert "robustpaint train --arch resnet18 --data cifar10 --out runs/r18 --epochs 15 --norm l2 --eps 0.5" in ran
    with_slow = script.plans(slow=True)
    assert {p.command.text for p in with_slow if p.argv} >= ran | set(script.SLOW)


def test_the_skip_lists_name_only_commands_the_readme_has(script):
    found = {c.text for c in script.extract((ROOT / "README.md").read_text(encoding="utf-8"))}
    stale = (set(script.SKIP) | set(script.SLOW)) - found
    assert not stale, f"on a skip list of .ci/readme_commands.py but no longer in README.md: {stale}"
    assert not set(script.SKIP) & set(script.SLOW)


def test_each_command_and_its_small_form_parse(script):
    """The README's own words and the small form the script runs are both valid command lines (an option that was
    renamed fails here, without running anything)."""
    from robustpaint.cli import build_parser
    parser = build_parser()
    for plan in script.plans(slow=True):
        if plan.argv is None:
            continue
        small = plan.argv[3:]  # after python -m robustpaint
        _, words = script._env_and_program(plan.command.words)
        readme = [w[1:-1] if w.startswith("[") and w.endswith("]") else w for w in words[1:]]
        for argv in (readme, small):
            try:
                parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"README line {plan.command.line}: `{' '.join(argv)}` does not parse")


def test_the_small_forms_are_small(script):
    for plan in script.plans():
        if plan.argv is None:
            continue
        argv = plan.argv[3:]
        if argv[0] in script.TASKS:
            assert argv[argv.index("--steps") + 1] == script.STEPS, argv
            assert "-n" not in argv or int(argv[argv.index("-n") + 1]) <= 2, argv
        if argv[0] == "train":
            assert argv[argv.index("--epochs") + 1] == "1" and argv[argv.index("--max-batches") + 1] == "1", argv
        assert "cifar10" not in argv, argv  # a download: a stand-in folder instead


@pytest.mark.parametrize("block, why", [
    ("```bash\npip install robustpaint\n```", "not a robustpaint command"),
    ("```bash\nrobustpaint frobnicate x.png\n```", "no rule"),
    ("Start it with `robustpaint --fullscreen`.", "opens the app"),
    ("```\nrobustpaint sketch a.png --class church   # a block without a language\n```", None),
    ("Run `robustpaint generate --class church` then", None),
])
def test_a_new_readme_command_is_not_missed(script, block, why):
    commands = script.extract(f"# Title\n\nSome words.\n\n{block}\n\nMore words.\n")
    assert len(commands) == 1
    if why is None:
        assert script.plan(commands[0]).argv is not None
    else:
        with pytest.raises(script.Uncovered, match=why):
            script.plan(commands[0])
