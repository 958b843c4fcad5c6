"""Builds the one-folder desktop bundle with PyInstaller and prints its size and the build time.

    pip install pyinstaller && python packaging/build_bundle.py [--dist dist/bundle] [--smoke]

--smoke runs the bundled `robustpaint models list` and `robustpaint generate` from outside the source tree.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / "bundle")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        sys.exit("build_bundle.py needs PyInstaller: pip install pyinstaller")
    work = Path(tempfile.mkdtemp(prefix="robustpaint-bundle-"))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", str(args.dist),
                    "--workpath", str(work), str(ROOT / "packaging" / "robustpaint.spec")], check=True)
    seconds = time.perf_counter() - started
    bundle = args.dist / "robustpaint"
    size = folder_size(bundle)
    print(f"bundle: {bundle}\nsize: {size / 2**20:.0f} MiB in {sum(1 for _ in bundle.rglob('*'))} files\n"
          f"build time: {seconds:.0f} s")
    if args.smoke:
        exe = bundle / ("robustpaint.exe" if os.name == "nt" else "robustpaint")
        with tempfile.TemporaryDirectory() as out:
            env = {**os.environ, "ROBUSTPAINT_DATA_DIR": f"{out}/data", "ROBUSTPAINT_CACHE_DIR": f"{out}/cache"}
            subprocess.run([str(exe), "models", "list"], check=True, cwd=out, env=env)
            subprocess.run([str(exe), "generate", "--class", "cat", "--steps", "3", "--quiet", "--out", out],
                           check=True, cwd=out, env=env)
        print("smoke test: the bundled command line listed the models and generated a cat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
