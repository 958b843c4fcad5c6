"""#47 item 14: what the commands' help says matches what they do."""

from __future__ import annotations

import pytest

from robustpaint.cli import main


def _help(capsys, command: str) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_generate_help_gives_the_presets_saturation_not_only_the_tables(capsys):
    """--saturation said 'default: 0.0' while the photo models' preset runs at 1.0."""
    text = _help(capsys, "generate")
    assert "(default: 0.0; 1.0 with photo models' preset)" in text


def test_superres_fit_keep_means_keep_as_in_the_other_photo_tasks(capsys):
    """superres's `--fit scale` meant keep-the-shape, the opposite of `scale` in the other commands."""
    text = _help(capsys, "superres")
    assert "--fit {keep,crop,scale}" in text and "keep (default): the input's own shape" in text
