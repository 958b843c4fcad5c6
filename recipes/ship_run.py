"""Copy a finished training run into resources/models/ under a shipped name, with its card.

Usage: python recipes/ship_run.py RUN_DIR NAME [KEY=JSON_VALUE ...]  (extra card fields, e.g. role='"evaluator"')
"""

import json
import pathlib
import shutil
import sys

run, name, *extra = sys.argv[1:]
models = pathlib.Path("resources/models")
card = json.loads((pathlib.Path(run) / "model.json").read_text())
card.update(name=name, weights_file=f"{name}.safetensors")
for item in extra:
    key, _, value = item.partition("=")
    card[key] = json.loads(value)
shutil.copyfile(pathlib.Path(run) / "model.safetensors", models / f"{name}.safetensors")
(models / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
print(f"shipped {run} as {models / name}.safetensors")
