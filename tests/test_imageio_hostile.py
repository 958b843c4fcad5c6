"""The one image reader (core.imageio) against hostile and unusual files: every decoder failure is one ImageError
line, EXIF orientation is applied, class maps and masks are fitted like their photo (#32 item 11 and its
tracebacks, #33 items 13 and 14)."""

import io
import random
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from robustpaint.core.classmap import PALETTE, read_class_map
from robustpaint.core.errors import ImageError, RobustPaintError
from robustpaint.core.imageio import load_image, load_mask, load_photo, read_recipe


def _cli(args, capsys):
    from robustpaint.cli import main
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def _pillow_bytes(fmt: str, size=(16, 16)) -> bytes | None:
    """A small image in `fmt`, in the first mode its writer takes and Pillow reads back (else the first it
    writes: a write-only format such as PDF; None if Pillow cannot write it here)."""
    written = None
    for mode in ("RGB", "L", "P", "RGBA", "1", "F"):
        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Image.new(mode, size, 90).save(buffer, format=fmt)
                written = written or buffer.getvalue()
                Image.open(io.BytesIO(buffer.getvalue())).load()
        except Exception:  # noqa: BLE001 - this mode (or the whole format) cannot be written, or read back
            continue
        return buffer.getvalue()
    return written


def _patched(fmt: str, offset: int, value: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (16, 16), 9).save(buffer, format=fmt)
    data = bytearray(buffer.getvalue())
    data[offset] = value
    return bytes(data)


# Crafted files on which Pillow itself raises a foreign exception (seen in #32's hostile pass).
CRAFTED = {
    "dds": (lambda: _patched("DDS", 80, 144), NotImplementedError),  # pixel format flags: "Unknown pixel format"
    "blp": (lambda: _patched("BLP", 5, 13, "P"), NotImplementedError),  # BLPFormatError: unknown compression
    "spider": (lambda: _patched("SPIDER", 107, 82, "L"), AttributeError),  # no attribute 'stkoffset'
}


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_dds_blp_and_spider_files_are_our_error(tmp_path, kind):
    """Before: NotImplementedError, BLPFormatError and AttributeError tracebacks out of the reader."""
    craft, pillow_raises = CRAFTED[kind]
    data = craft()
    with pytest.raises(pillow_raises):  # the craft still hits the decoder bug it is meant to
        Image.open(io.BytesIO(data)).load()
    for name in ("x.png", "x.jpg", f"x.{kind}"):  # any extension: Pillow goes by the content
        (tmp_path / name).write_bytes(data)
        for read in (load_image, lambda p: load_mask(p, (16, 16)), lambda p: read_class_map(p, (16, 16), 1)):
            with pytest.raises(ImageError, match=f"{name} is not a readable image") as info:
                read(tmp_path / name)
            assert "\n" not in str(info.value) and "0x" not in str(info.value)


@pytest.mark.parametrize("role", ["input", "mask"])
def test_a_crafted_file_on_the_command_line_is_one_line_and_status_2(installed_tiny, tmp_path, capsys, role):
    Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(tmp_path / "photo.png")
    Image.new("L", (32, 32), 255).save(tmp_path / "mask.png")
    for kind, (craft, _) in CRAFTED.items():
        bad = tmp_path / f"{kind}.png"
        bad.write_bytes(craft())
        photo, mask = (bad, tmp_path / "mask.png") if role == "input" else (tmp_path / "photo.png", bad)
        code, err = _cli(["inpaint", photo, "--mask", mask, "--model", "tiny", "--steps", "1", "--quiet",
                          "--out", tmp_path / "out.png"], capsys)
        assert code == 2 and err.count("\n") == 1 and f"{kind}.png is not a readable image" in err, err
        assert not (tmp_path / "out.png").exists()


def test_what_libtiff_prints_is_part_of_the_one_line(tmp_path):
    """Before: libtiff's "More samples per pixel than can be decoded" went straight to file descriptor 2, a
    second line beside ours. In a process of its own: once Qt is loaded (as in this test run) libtiff is silent."""
    Image.new("RGB", (16, 16), 90).save(tmp_path / "x.tif")  # (on a black image libtiff says nothing)
    data = bytearray((tmp_path / "x.tif").read_bytes())
    entry = data.find(bytes([0x15, 0x01, 3, 0, 1, 0, 0, 0, 3, 0]))  # tag 277, SamplesPerPixel = 3
    data[entry + 8:entry + 13] = b"\x03\xff\xff\xff\xff"  # 65283 samples, and the next tag, RowsPerStrip
    # (278), becomes an unknown one (511)
    (tmp_path / "x.tif").write_bytes(bytes(data))
    script = ("import sys\nfrom robustpaint.core.imageio import load_image\ntry:\n    load_image(sys.argv[1])\n"
              "except Exception as exc:\n    print(type(exc).__name__, exc)\nprint('stderr is ours again', "
              "file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "x.tif")], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.startswith("ImageError") and "More samples per pixel" in done.stdout, done
    assert done.stderr == "stderr is ours again\n"


def test_a_valid_spider_file_is_read(tmp_path):
    """Before: every SPIDER file was "not a readable image (StopIteration)": the reader iterated frames, and a
    SPIDER file that is not a stack cannot seek, not even to its first frame."""
    Image.new("L", (12, 8), 200).save(tmp_path / "x.spi", format="SPIDER")
    image = load_image(tmp_path / "x.spi")
    assert image.shape == (1, 3, 8, 12) and torch_close(image, 200 / 255)


def test_eps_is_refused_without_running_ghostscript(tmp_path, monkeypatch):
    """An EPS file is drawn by running its PostScript in Ghostscript: refused by name, Ghostscript never run."""
    import subprocess as sp
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png", format="EPS")
    monkeypatch.setattr(sp, "check_call", lambda *a, **k: pytest.fail("ran Ghostscript"))
    with pytest.raises(ImageError, match="x.png is EPS, which is not read"):
        load_image(tmp_path / "x.png")


def test_premultiplied_alpha_images_are_read(tmp_path):
    """Before: a valid TIFF of premultiplied gray + alpha (Pillow's mode La) was a ValueError traceback."""
    Image.new("LA", (4, 4), (200, 255)).save(tmp_path / "la.tif")
    data = bytearray((tmp_path / "la.tif").read_bytes())
    extra_samples = data.find(bytes([0x52, 0x01, 3, 0, 1, 0, 0, 0, 2, 0]))  # tag 338 = 2 (unassociated alpha)
    data[extra_samples + 8] = 1  # associated (premultiplied) alpha
    (tmp_path / "la.tif").write_bytes(bytes(data))
    assert Image.open(tmp_path / "la.tif").mode == "La"
    image = load_image(tmp_path / "la.tif")
    assert image.shape == (1, 3, 4, 4) and torch_close(image, 200 / 255)
    assert load_mask(tmp_path / "la.tif", (4, 4)).all()


def torch_close(image, value, tol=2 / 255):
    return bool((image - value).abs().max() <= tol)


def test_a_decompression_bomb_is_one_line(tmp_path, monkeypatch):
    Image.new("L", (64, 64)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 pixels is more than twice Pillow's limit
    with pytest.raises(ImageError, match="bomb.png is too large") as info:
        load_image(tmp_path / "bomb.png")
    assert "\n" not in str(info.value)


def test_pillow_warnings_do_not_escape_the_reader(tmp_path, monkeypatch):
    """A warning while decoding (a damaged tag, Pillow's own bomb heuristic) is not the user's error: with warnings
    raised as errors the image still reads (before: DecompressionBombWarning escaped as an exception)."""
    Image.new("L", (40, 40)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1,600 pixels: over Pillow's limit, not over twice it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(tmp_path / "big.png").shape == (1, 3, 40, 40)


# EXIF orientation (#32 item 11): a phone stores a portrait photo's pixels lying on their side and says in its
# EXIF how to turn them upright; every viewer does, so the reader must too.

def _stored_sideways(path, upright: Image.Image, **save):
    """`upright` saved as a phone would: pixels turned 90 degrees, EXIF orientation 6 ("turn 90 degrees clockwise
    to view")."""
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif.tobytes(), **save)
    return path


def _portrait(w=24, h=40):
    arr = np.zeros((h, w, 3), np.uint8)
    arr[: h // 4] = (255, 0, 0)  # red at the top
    return Image.fromarray(arr)


def test_exif_orientation_is_applied_to_photos(tmp_path):
    """Before: the photo came out 40x24, lying on its side."""
    path = _stored_sideways(tmp_path / "phone.jpg", _portrait(), quality=95)
    image, note, source = load_photo(path, fit="keep")
    assert source == (40, 24) and image.shape == (1, 3, 40, 24)
    assert image[0, 0, :8].mean() > 0.8 and image[0, 0, 12:].mean() < 0.1  # red at the top, where it was shot


def test_exif_orientation_is_applied_to_masks_and_class_maps(tmp_path):
    hole = np.zeros((40, 24), np.uint8)
    hole[:10] = 255
    mask = load_mask(_stored_sideways(tmp_path / "mask.png", Image.fromarray(hole)), (40, 24))
    assert mask[0, 0, :10].all() and not mask[0, 0, 10:].any()
    regions = np.full((40, 24, 3), 255, np.uint8)
    regions[:10] = PALETTE[0]
    regions[30:] = PALETTE[1]
    classes = read_class_map(_stored_sideways(tmp_path / "map.png", Image.fromarray(regions)), (40, 24), 2)
    assert classes[0, :10].all() and classes[1, 30:].all() and not classes[:, 10:30].any()


def test_a_sideways_phone_photo_and_its_upright_mask_inpaint(installed_tiny, tmp_path, capsys):
    """Before: "mask mask.png is 32x48, but the image is 48x32"."""
    _stored_sideways(tmp_path / "phone.jpg", _portrait(32, 48), quality=95)
    hole = np.zeros((48, 32), np.uint8)
    hole[20:30, 8:16] = 255
    Image.fromarray(hole).save(tmp_path / "mask.png")  # drawn over the photo as every viewer shows it
    code, err = _cli(["inpaint", tmp_path / "phone.jpg", "--mask", tmp_path / "mask.png", "--model", "tiny",
                      "--steps", "1", "--quiet", "--out", tmp_path / "out.png"], capsys)
    assert code == 0, err
    assert Image.open(tmp_path / "out.png").size == (32, 48)


# A mask of the wrong size (#33 item 14) and class maps fitted like photos (#33 item 13).

def test_a_wrong_mask_is_reported_against_the_users_photo(tmp_path):
    """Before: "but the image is 128x85", the canvas the 451x300 photo was fitted to."""
    Image.new("L", (200, 200), 255).save(tmp_path / "mask.png")
    with pytest.raises(ImageError) as info:
        load_mask(tmp_path / "mask.png", (85, 128), source_size=(300, 451))
    assert "451x300" in str(info.value) and "200x200" in str(info.value)
    with pytest.raises(ImageError, match="but the image is 128x85"):  # no photo of another size: the image's
        load_mask(tmp_path / "mask.png", (85, 128))


def _map(path, h, w, colours):
    """Vertical stripes, one per colour."""
    arr = np.full((h, w, 3), 255, np.uint8)
    for i, colour in enumerate(colours):
        arr[:, i * w // len(colours):(i + 1) * w // len(colours)] = colour
    Image.fromarray(arr).save(path)
    return path


def test_a_class_map_of_another_size_is_fitted_with_exact_labels(tmp_path):
    """Before: "class map map.png is 100x100, but the canvas is 32x32". Bicubic resampling would blend red and
    green into colours of no class at their border; nearest keeps every pixel a class of the map."""
    path = _map(tmp_path / "map.png", 100, 100, [PALETTE[0], PALETTE[1], PALETTE[2]])
    regions = read_class_map(path, (32, 32), 3)
    assert regions.shape == (3, 32, 32) and regions.sum(0).eq(1).all()  # every pixel exactly one class
    assert regions[0, :, :10].all() and regions[1, :, 12:20].all() and regions[2, :, 23:].all()


def test_a_class_map_keeps_its_own_shape_like_a_photo(tmp_path):
    path = _map(tmp_path / "map.png", 30, 45, [PALETTE[0], PALETTE[1]])
    lines = []
    regions = read_class_map(path, None, 2, long_side=90, note=lines.append)
    assert regions.shape == (2, 60, 90) and regions[0, :, :44].all() and regions[1, :, 44:].all()
    assert lines == ["map.png 45x30 -> 90x60, scaled"]
    assert read_class_map(path, None, 2, min_side=32).shape == (2, 32, 48)  # raised to the model's side
    assert read_class_map(path, None, 2, max_side=1024).shape == (2, 30, 45)


def test_cli_generate_with_a_class_map_of_its_own_size(installed_tiny, tmp_path, capsys):
    _map(tmp_path / "map.png", 40, 64, [PALETTE[0], PALETTE[1]])
    code, err = _cli(["generate", "--class-map", tmp_path / "map.png", "--classes", "cat,dog", "--model", "tiny",
                      "--steps", "2", "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    assert Image.open(tmp_path / "o" / "classmap-cat-dog.png").size == (64, 40)
    code, err = _cli(["generate", "--class-map", tmp_path / "map.png", "--classes", "cat,dog", "--model", "tiny",
                      "--steps", "2", "--size", "32", "--out", tmp_path / "p"], capsys)
    assert code == 0, err
    assert Image.open(tmp_path / "p" / "classmap-cat-dog.png").size == (32, 20)


# The fuzz: every format Pillow writes, mutated, read through the project's readers.

def _mutations(data: bytes, rng: random.Random, count: int):
    yield data
    for _ in range(count):
        b = bytearray(data)
        kind = rng.randrange(4)
        if kind == 0:  # truncated
            b = b[:rng.randrange(len(b))]
        elif kind == 1:  # a few bytes flipped anywhere
            for _ in range(rng.randint(1, 6)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == 2:  # a header byte set to an extreme
            b[rng.randrange(min(128, len(b)))] = rng.choice((0, 1, 0x7F, 0x80, 0xFF))
        else:  # a header field (4 bytes) set to a huge, negative or random value
            at = rng.randrange(max(1, min(128, len(b) - 4)))
            b[at:at + 4] = rng.choice((b"\xff\xff\xff\x7f", b"\xff\xff\xff\xff", b"\0\0\0\0", rng.randbytes(4)))
        yield bytes(b)


def test_fuzz_every_writable_format_mutated_gives_an_image_or_our_error(tmp_path):
    Image.init()
    formats = sorted(set(Image.SAVE))
    samples = {fmt: data for fmt in formats if (data := _pillow_bytes(fmt))}
    assert {"PNG", "JPEG", "TIFF", "DDS", "BLP", "SPIDER", "GIF", "WEBP", "AVIF", "QOI"} <= set(samples)
    for fmt in ("PNG", "JPEG", "TIFF", "DDS", "BLP", "SPIDER", "GIF", "WEBP"):  # unmutated, each reads
        path = tmp_path / f"plain.{fmt}"
        path.write_bytes(samples[fmt])
        assert load_image(path).shape == (1, 3, 16, 16), fmt
    rng = random.Random(32)
    path = tmp_path / "fuzz.img"
    start, reads, slowest = time.monotonic(), 0, (0.0, "")
    for fmt, data in samples.items():
        for i, mutated in enumerate(_mutations(data, rng, 40)):
            path.write_bytes(mutated)
            for read in (load_image, lambda p: load_mask(p, (16, 16)), read_recipe):
                began = time.monotonic()
                try:
                    read(path)
                except RobustPaintError as exc:
                    assert "\n" not in str(exc), (fmt, i, str(exc))
                except Exception as exc:  # noqa: BLE001 - the finding this test is for
                    pytest.fail(f"{fmt} mutation {i}: {type(exc).__name__}: {exc}")
                slowest = max(slowest, (time.monotonic() - began, f"{fmt} mutation {i}"))
                reads += 1
    elapsed = time.monotonic() - start
    assert slowest[0] < 5, f"one read took {slowest[0]:.1f} s ({slowest[1]})"
    print(f"{reads} reads of {len(samples)} formats in {elapsed:.1f} s; slowest {slowest[0] * 1000:.0f} ms")
