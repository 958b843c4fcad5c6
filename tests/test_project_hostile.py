"""Hostile project files (#32 items 1, 3, 4): every malformed content ends in one ProjectError, strokes are checked
at load, inflation is bounded by the bytes actually inflated, and a fuzz of mutated valid projects."""

import json
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustpaint.core.document import Document
from robustpaint.core.project import Project, ProjectError, TaskParameters, load_project, save_project

HUGE = 10**400  # an integer JSON holds and a float cannot


def _project(size=16, **fields):
    rng = np.random.default_rng(0)
    fields.setdefault("parameters", {"eps": 2.5, "steps": 40, "class": "cat"})
    fields.setdefault("strokes", [{"points": [[1.5, 2.0], [10.0, 3.25]],
                                   "brush": {"size": 3, "color": [0, 0.5, 1], "opacity": 1.0, "target": "image",
                                             "clear": False, "value": 1.0}}])
    return Project(image=rng.random((size, size, 3), dtype=np.float32), mask=np.zeros((size, size), np.float32),
                   model="tiny", task="sketch", last_recipe={"task": "sketch"}, **fields)


def _with_meta(tmp_path, text: str):
    """A valid project whose project.json is `text`."""
    path = tmp_path / "p.rpaint"
    save_project(_project(), path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["project.json"] = text
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


# --- item 1: an integer too big for a float, and its siblings ------------------------------------------------

@pytest.mark.parametrize("parameters", [{"seed": HUGE}, {"eps": HUGE}, {"steps": -HUGE}, {"mix": ["dog", HUGE]},
                                        {"features": [[HUGE, 1.0]]}, {"features": [[0, HUGE]]},
                                        {"candidates": HUGE}, {"jitter": HUGE}, {"momentum": -HUGE}])
def test_an_integer_too_big_for_a_float_is_a_project_error(tmp_path, parameters):
    """Before: OverflowError ("int too large to convert to float") out of TaskParameters.from_dict, which killed the
    app when the project was an autosave being recovered."""
    with pytest.raises(ProjectError, match="outside|must lie"):
        TaskParameters.from_dict("sketch", parameters)
    save_project(_project(parameters=parameters), tmp_path / "big.rpaint")
    with pytest.raises(ProjectError, match="big.rpaint is damaged"):
        load_project(tmp_path / "big.rpaint")


def test_loading_checks_the_parameters_so_a_loaded_project_opens(tmp_path):
    """load_project is the one gate: what it returns the app can show without another check failing."""
    save_project(_project(parameters={"eps": 2.5, "seed": 7, "class": "dog"}), tmp_path / "ok.rpaint")
    project = load_project(tmp_path / "ok.rpaint")
    assert project.task_parameters == TaskParameters.from_dict("sketch", {"eps": 2.5, "seed": 7, "class": "dog"})
    assert project.task_parameters.seed == 7 and project.task_parameters.task == "sketch"


@pytest.mark.parametrize("text", [
    '{"format": "robustpaint-project", "version": 1, "parameters": {"seed": ' + "9" * 5000 + "}}",  # int > 4300 digits
    '{"format": "robustpaint-project", "version": ' + "9" * 5000 + "}",
    '{"format": "robustpaint-project", "version": 1, "model": {"a": 1}, "task": ["x"]}',
    '{"format": "robustpaint-project", "version": 1, "model_sha256": 3}',
])
def test_any_malformed_project_json_is_a_project_error(tmp_path, text):
    """Before: a ValueError (Python's limit on integer digits) or a model/task that is not a string went through."""
    with pytest.raises(ProjectError, match="damaged"):
        load_project(_with_meta(tmp_path, text))


def test_an_array_header_that_numpy_cannot_parse_is_a_project_error(tmp_path):
    """Found by the fuzz below: a NUL byte in a .npy header raised SyntaxError, then tokenize.TokenError, out of
    np.load (neither is a ValueError)."""
    path = tmp_path / "p.rpaint"
    save_project(_project(), path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = bytearray(members["mask.npy"])
    header[header.index(b")")] = 0
    members["mask.npy"] = bytes(header)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ProjectError, match="mask.npy is not an array"):
        load_project(path)


# --- item 3: strokes -----------------------------------------------------------------------------------------

GOOD_BRUSH = {"size": 3, "color": [0, 0, 0], "opacity": 1, "target": "image", "clear": False, "value": 1}


@pytest.mark.parametrize("strokes", [
    [1], ["stroke"], [None], [[]],
    [{"brush": GOOD_BRUSH}],  # no points
    [{"points": [[1, 2]]}],  # no brush
    [{"points": "ab", "brush": GOOD_BRUSH}],
    [{"points": [[1, "a"]], "brush": GOOD_BRUSH}],
    [{"points": [[1, 2, 3]], "brush": GOOD_BRUSH}],
    [{"points": [[1]], "brush": GOOD_BRUSH}],
    [{"points": [[True, 2]], "brush": GOOD_BRUSH}],
    [{"points": [[float("nan"), 2]], "brush": GOOD_BRUSH}],
    [{"points": [[HUGE, 2]], "brush": GOOD_BRUSH}],
    [{"points": [[1, 2]], "brush": "round"}],
    [{"points": [[1, 2]], "brush": {**GOOD_BRUSH, "size": "big"}}],
    [{"points": [[1, 2]], "brush": {**GOOD_BRUSH, "size": float("inf")}}],
    [{"points": [[1, 2]], "brush": {**GOOD_BRUSH, "size": -1}}],
    [{"points": [[1, 2]], "brush": {k: v for k, v in GOOD_BRUSH.items() if k != "size"}}],
    [{"points": [[1, 2]], "brush": {**GOOD_BRUSH, "color": "red"}}],
    [{"points": [[1, 2]], "brush": {**GOOD_BRUSH, "color": [0, 0]}}],
    [{"points": [[1, 2]], "brush": {**GOOD_BRUSH, "opacity": 7}}],
    [{"points": [[1, 2]], "brush": {**GOOD_BRUSH, "target": "walls"}}],
    [{"points": [[1, 2]], "brush": {**GOOD_BRUSH, "clear": "yes"}}],
    [{"points": [[1, 2]], "brush": {**GOOD_BRUSH, "value": [1]}}],
])
def test_strokes_of_the_wrong_type_are_a_project_error(tmp_path, strokes):
    """Before: accepted, then resizing the canvas for a model of another size raised (_on_model_ready) and saving
    wrote the bad strokes back out."""
    save_project(_project(strokes=strokes), tmp_path / "s.rpaint")
    with pytest.raises(ProjectError, match="stroke"):
        load_project(tmp_path / "s.rpaint")


def test_strokes_of_older_projects_and_of_the_app_still_load(tmp_path):
    document = Document.blank(16)
    from robustpaint.core.document import Brush
    document.log_stroke([(1, 2), (3.5, 4)], Brush(size=5, target="regions", value=2))
    old = {"points": [[1.5, 2.0]], "brush": {"size": 3, "target": "mask", "color": [1, 1, 1], "opacity": 0.5,
                                            "clear": True}}  # before "value" was logged
    strokes = document.strokes + [old]
    save_project(_project(strokes=strokes), tmp_path / "s.rpaint")
    loaded = load_project(tmp_path / "s.rpaint")
    assert loaded.strokes == strokes
    document.strokes = loaded.strokes
    document.resize(64, 32)  # what a model of another size does to the canvas
    assert document.strokes[0]["points"][1] == [7.0, 16.0]


# --- item 4: inflation bounded by what is inflated -----------------------------------------------------------

def _zip_with_lying_member(path, name: str, inflated: int, claimed: int = 200, method: int = zipfile.ZIP_DEFLATED):
    """A zip whose one member inflates to `inflated` bytes while its headers claim `claimed`."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * (1 << 20)
    body = b"".join(packer.compress(chunk) for _ in range(inflated >> 20)) + packer.flush()
    crc, stamp = 0, (0, 0)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, *stamp, crc, len(body), claimed,
                        len(name), 0) + name.encode()
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, *stamp, crc, len(body), claimed,
                          len(name), 0, 0, 0, 0, 0, 0) + name.encode()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(body), 0)
    path.write_bytes(local + body + central + end)
    return len(body)


def test_a_member_that_inflates_past_its_claimed_size_is_refused_without_inflating_it(tmp_path):
    """Before: the directory's 200 bytes passed the size check, then the whole stream was inflated in one go (1 GiB,
    2 GB resident for a 1 MB file) before the CRC refused it."""
    path = tmp_path / "bomb.rpaint"
    packed = _zip_with_lying_member(path, "project.json", 64 << 20)
    assert packed < 1 << 20  # a small file
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ProjectError, match="damaged"):
            load_project(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MiB allocated to read a {packed / 2**10:.0f} KiB project"
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_members_in_a_compression_the_app_does_not_write_are_refused(tmp_path, method):
    """bzip2 and LZMA inflate without a bound on their output in zipfile: only stored and deflated members open."""
    path = tmp_path / "p.rpaint"
    save_project(_project(), path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ProjectError, match="compress"):
        load_project(path)


# --- fuzz: mutated valid projects ----------------------------------------------------------------------------

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.sampled_from([HUGE, -HUGE, 2**63, 1e308])
                     | st.floats() | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                 max_size=3),
                     max_leaves=8)
_VALID = None


def _valid_meta() -> dict:
    global _VALID
    if _VALID is None:
        document = Document.blank(8)
        from robustpaint.core.document import Brush
        document.log_stroke([(1, 2), (3, 4)], Brush())
        _VALID = {"format": "robustpaint-project", "version": 1, "model": "tiny", "model_sha256": "ab" * 32,
                  "task": "sketch", "last_recipe": {"task": "sketch"}, "strokes": document.strokes,
                  "parameters": TaskParameters(task="sketch", seed=3).to_dict()}
    return json.loads(json.dumps(_VALID))


def _replace_at(value, path: list[int], new):
    """`value` with the node that `path` picks (each number picks a child, modulo their count) set to `new`."""
    if not path or not isinstance(value, (dict, list)) or not value:
        return new
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[path[0] % len(keys)]
    value[key] = _replace_at(value[key], path[1:], new)
    return value


def _write(path, meta_text: str, arrays: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.json", meta_text)
        for name, data in arrays.items():
            archive.writestr(name, data)


def _npy(array) -> bytes:
    import io
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


_ARRAYS = {"image.npy": _npy(np.full((8, 8, 3), 0.5, np.float32)), "mask.npy": _npy(np.zeros((8, 8), np.float32))}


def _check_outcome(path):
    """A loaded project that the app can use whole, or a ProjectError: nothing else."""
    try:
        project = load_project(path)
    except ProjectError:
        return
    assert isinstance(project.task_parameters, TaskParameters)
    document = Document(project.image)
    document.strokes = list(project.strokes)
    document.resize(12, 20)  # what a model of another size does; raised on a bad stroke before
    save_project(Project(image=document.image, mask=document.mask, strokes=document.strokes,
                         parameters=project.task_parameters.to_dict(), task=project.task, model=project.model,
                         last_recipe=project.last_recipe), path)
    load_project(path)  # what the app saves it opens again


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.integers(0, 50), max_size=5), new=_JSON)
def test_fuzz_a_project_json_with_one_node_replaced_loads_or_is_a_project_error(tmp_path_factory, path, new):
    meta = _replace_at(_valid_meta(), path, new)
    target = tmp_path_factory.mktemp("fuzz") / "x.rpaint"
    _write(target, json.dumps(meta), _ARRAYS)
    _check_outcome(target)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.integers(0, 1 << 16))
def test_fuzz_a_project_with_bytes_changed_loads_or_is_a_project_error(tmp_path_factory, flips, cut):
    target = tmp_path_factory.mktemp("fuzz") / "x.rpaint"
    save_project(_project(size=8), target)
    raw = bytearray(target.read_bytes())
    for pos, byte in flips:
        raw[pos % len(raw)] = byte
    if cut % 3 == 0:
        del raw[cut % len(raw):]
    target.write_bytes(bytes(raw))
    _check_outcome(target)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(member=st.sampled_from(["project.json", "image.npy", "mask.npy"]),
       flips=st.lists(st.tuples(st.integers(0, 1 << 12), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.integers(0, 1 << 12))
def test_fuzz_a_member_with_bytes_changed_in_a_sound_zip_loads_or_is_a_project_error(tmp_path_factory, member,
                                                                                    flips, cut):
    """The zip itself intact (its CRCs right), so the changed bytes reach the JSON and array readers."""
    members = {"project.json": json.dumps(_valid_meta(), indent=1).encode(), **_ARRAYS}
    raw = bytearray(members[member])
    for pos, byte in flips:
        raw[pos % len(raw)] = byte
    if cut % 3 == 0:
        del raw[cut % len(raw):]
    members[member] = bytes(raw)
    target = tmp_path_factory.mktemp("fuzz") / "x.rpaint"
    _write(target, members.pop("project.json"), members)
    _check_outcome(target)
