"""Re-encode an image-folder data set as smaller WebP files, e.g. Imagenette's 224-px JPEGs as 144-px WebP (35 MB),
so that it fits the 64 MiB a lent GPU machine accepts. Usage: python recipes/shrink_image_folder.py SRC DST SIDE [Q]
(SRC: a folder or .tar.gz holding train/<class>/*; only train/ is written)."""

import sys
import tarfile
import tempfile
from pathlib import Path

from PIL import Image

src, dst, side = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
quality = int(sys.argv[4]) if len(sys.argv) > 4 else 75
with tempfile.TemporaryDirectory() as tmp:
    if src.is_file():
        with tarfile.open(src) as tar:
            tar.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        src = Path(tmp)
    train = next(src.rglob("train"))
    for file in sorted(train.glob("*/*")):
        out = dst / "train" / file.parent.name / f"{file.stem}.webp"
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(file) as image:
            image.convert("RGB").resize((side, side), Image.LANCZOS).save(out, "WEBP", quality=quality, method=6)
