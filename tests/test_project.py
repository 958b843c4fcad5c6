"""Project files: round trip, every kind of damage gives one clear ProjectError, saves survive SIGKILL."""

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustpaint.core.errors import RobustPaintError
from robustpaint.core.project import FORMAT_VERSION, Project, ProjectError, load_project, save_project

ROOT = Path(__file__).resolve().parents[1]


def _project(seed=0, size=32):
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.float32)
    mask[4:12, 6:20] = 1
    return Project(image=rng.random((size, size, 3), dtype=np.float32), mask=mask, model="resnet18",
                   model_sha256="ab" * 32, task="inpaint", parameters={"eps": 2.5, "steps": 40, "class": "cat"},
                   strokes=[{"points": [[1.5, 2.0], [10.0, 3.25]], "brush": {"size": 3, "target": "mask"}}],
                   last_recipe={"task": "inpaint", "steps": 40})


def test_a_saved_project_opens_with_everything_it_held(tmp_path):
    project = _project()
    save_project(project, tmp_path / "a.rpaint")
    loaded = load_project(tmp_path / "a.rpaint")
    assert np.array_equal(loaded.image, project.image)  # float32 kept exactly, not rounded to 8 bits
    assert np.array_equal(loaded.mask, project.mask)
    assert (loaded.model, loaded.model_sha256, loaded.task) == (project.model, project.model_sha256, project.task)
    assert loaded.parameters == project.parameters and loaded.strokes == project.strokes
    assert loaded.last_recipe == project.last_recipe


def _rewrite(path, out, *, drop=(), replace=None, extra=None):
    replace = replace or {}
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            dst.writestr(info.filename, replace.get(info.filename, src.read(info)))
        for name, data in (extra or {}).items():
            dst.writestr(name, data)


def _meta(path, **changes):
    with zipfile.ZipFile(path) as z:
        meta = json.loads(z.read("project.json"))
    meta.update(changes)
    return json.dumps(meta)


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("damage, message", [
    ({"drop": ["image.npy"]}, "has no image.npy"),
    ({"drop": ["project.json"]}, "has no project.json"),
    ({"replace": {"project.json": "{not json"}}, "not JSON"),
    ({"replace": {"project.json": json.dumps({"format": "something-else"})}}, "not a RobustPaint project"),
    ({"meta": {"version": FORMAT_VERSION + 1}}, "newer RobustPaint"),
    ({"meta": {"version": "one"}}, "format version"),
    ({"meta": {"strokes": "oops"}}, "wrong type"),
    ({"extra": {"../../escape.txt": "x"}}, "points outside"),
    ({"extra": {"/etc/passwd": "x"}}, "points outside"),
    ({"replace": {"image.npy": b"garbage"}}, "not an array"),
    ({"replace": {"image.npy": _npy(np.zeros((32, 32), np.float32))}}, "has shape"),
    ({"replace": {"mask.npy": _npy(np.zeros((16, 16), np.float32))}}, "do not match"),
    ({"replace": {"image.npy": _npy(np.full((32, 32, 3), np.nan, np.float32))}}, "NaN"),
    ({"replace": {"image.npy": _npy(np.array([object()] * 3, dtype=object))}}, "not an array"),
])
def test_damaged_projects_give_one_clear_error(tmp_path, damage, message):
    good = tmp_path / "good.rpaint"
    save_project(_project(), good)
    bad = tmp_path / "bad.rpaint"
    replace = dict(damage.get("replace", {}))
    if "meta" in damage:
        replace["project.json"] = _meta(good, **damage["meta"])
    _rewrite(good, bad, drop=damage.get("drop", ()), replace=replace, extra=damage.get("extra"))
    with pytest.raises(ProjectError, match=message):
        load_project(bad)


def test_truncated_and_missing_files_give_one_clear_error(tmp_path):
    good = tmp_path / "good.rpaint"
    save_project(_project(), good)
    data = good.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 30):
        (tmp_path / "cut.rpaint").write_bytes(data[:cut])
        with pytest.raises(ProjectError):
            load_project(tmp_path / "cut.rpaint")
    with pytest.raises(ProjectError, match="not found"):
        load_project(tmp_path / "missing.rpaint")


def test_saving_to_an_unwritable_place_is_a_project_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProjectError, match="cannot write"):
        save_project(_project(), tmp_path / "file" / "sub" / "a.rpaint")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=3000),
    st.builds(lambda cut, pos, flip: (cut, pos, flip), st.integers(0, 4000), st.integers(0, 4000),
              st.integers(0, 255))))
def test_any_bytes_give_a_project_or_our_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "x.rpaint"
    if isinstance(data, tuple):  # a real project, truncated and with one byte changed
        save_project(_project(size=8), path)
        raw = bytearray(path.read_bytes())
        cut, pos, flip = data
        raw = raw[:max(cut, 1)]
        raw[pos % len(raw)] = flip
        data = bytes(raw)
    path.write_bytes(data)
    try:
        load_project(path)
    except RobustPaintError:
        pass


WRITER = """
import os
import sys
import numpy as np
from robustpaint.core.project import Project, save_project
target = sys.argv[1]
for line in sys.stdin:  # one writer per line, forked from this process: the imports are paid once, not per trial
    pid = os.fork()
    if pid:
        print("pid", pid, flush=True)
        continue
    i, rng = 0, np.random.default_rng(0)
    while True:
        i += 1
        image = np.full((512, 512, 3), (i % 200) / 255, np.float32) + rng.random((512, 512, 3), dtype=np.float32) * 1e-3
        save_project(Project(image=image, mask=np.zeros((512, 512), np.float32), parameters={"i": i}), target)
        print("written", flush=True)  # after each save: the test kills only a writer in its loop, after k saves
"""


def _wait_dead(pid: int) -> None:
    """Until the killed writer runs no more: gone, or a zombie its (forking) parent has not reaped."""
    stat = Path(f"/proc/{pid}/stat")
    for _ in range(2000):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return
        except (FileNotFoundError, ProcessLookupError):
            return
        time.sleep(0.005)
    raise AssertionError(f"writer {pid} still runs 10 s after SIGKILL")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the writers are forked and watched in /proc")
def test_sigkill_during_project_saves_always_leaves_a_loadable_project(tmp_path):
    target = tmp_path / "p.rpaint"
    save_project(_project(size=512), target)
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seen = set()
    forker = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        for trial in range(10):
            forker.stdin.write("go\n")
            forker.stdin.flush()
            line = forker.stdout.readline()
            while line.strip() == "written":  # the last writer's saves between the last read and its kill
                line = forker.stdout.readline()
            pid = int(line.split()[1])
            for _ in range(1 + trial % 3):  # 1 to 3 whole saves first, however slow the machine: kills come at
                assert forker.stdout.readline().strip() == "written"  # several points of the loop (it failed under load)
            time.sleep(float(rng.random()) * 0.2)
            os.kill(pid, signal.SIGKILL)
            _wait_dead(pid)
            project = load_project(target)  # raises if the file were torn
            assert project.image.shape == (512, 512, 3), f"trial {trial}"
            seen.add(project.parameters.get("i"))
    finally:
        forker.kill()
        forker.wait()
        forker.stdin.close()
        forker.stdout.close()
    assert None not in seen and len(seen) > 1  # every kill came after the writer's saves began, at several points


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)
_KEYS = st.sampled_from(["eps", "step_size", "steps", "lam", "seed", "factor", "temperature", "candidates", "class",
                         "keep_photo", "mix", "region_classes", "features", "neuron"])


@settings(max_examples=300, deadline=None)
@given(values=st.dictionaries(_KEYS, _JSON | st.floats(allow_nan=True, allow_infinity=True), max_size=8))
def test_any_project_parameters_give_values_in_range_or_a_project_error(values):
    """The app shows what `from_dict` gives: every number within its widget's range, or nothing opens at all."""
    from robustpaint.core.project import TaskParameters
    from robustpaint.core.tasks.knobs import KNOBS as PARAMETERS
    try:
        p = TaskParameters.from_dict("sketch", values)
    except ProjectError:
        return
    for key, value in (("eps", p.eps), ("step", p.step_size), ("steps", p.steps), ("lam", p.lam), ("seed", p.seed),
                       ("temperature", p.temperature), ("candidates", p.candidates)):
        assert PARAMETERS[key].low <= value <= PARAMETERS[key].high, (key, value)
    assert 2 <= p.factor <= 8 and 0 <= p.mix_weight <= 1
    assert all(0 <= unit <= 4095 and -2 <= weight <= 2 for unit, weight in p.features)


def test_project_json_nested_thousands_deep_is_a_damaged_project(tmp_path):
    path = tmp_path / "deep.rpaint"
    save_project(_project(), path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["project.json"] = b"[" * 100_000 + b"]" * 100_000
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ProjectError, match="not JSON"):
        load_project(path)
