"""Builds the wheel and fails if anything the app needs at run time is missing from it.

    python packaging/check_wheel.py [--wheel dist/robustpaint-*.whl]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def required_members() -> list[str]:
    """Every file under resources/ (mapped to robustpaint/resources/) and every module of the package."""
    members = [f"robustpaint/resources/{p.relative_to(ROOT / 'resources').as_posix()}"
               for p in sorted((ROOT / "resources").rglob("*")) if p.is_file()]
    members += [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "robustpaint").rglob("*.py"))]
    return members


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="check this wheel instead of building one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        wheel = args.wheel
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, str(ROOT)], check=True)
            wheel = next(Path(out).glob("robustpaint-*.whl"))
        names = set(zipfile.ZipFile(wheel).namelist())
        missing = [m for m in required_members() if m not in names]
        size = wheel.stat().st_size / 1e6
        print(f"{wheel.name}: {len(names)} files, {size:.1f} MB")
        models = sorted(n for n in names if n.startswith("robustpaint/resources/models/"))
        print("shipped models:", ", ".join(Path(n).name for n in models) or "none")
        if missing:
            print("MISSING from the wheel:\n  " + "\n  ".join(missing))
            return 1
        print("all run-time files are in the wheel")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
