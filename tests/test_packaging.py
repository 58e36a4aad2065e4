"""The wheel holds every module of the source tree, under the names users import."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"agentloop": "agentloop", "environments": "agentloop/environments",
            "search": "agentloop/search", "trainers": "agentloop/trainers"}


def source_modules() -> set[str]:
    modules = set()
    for folder, installed in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            if "__pycache__" not in path.parts:
                modules.add(f"{installed}/{path.relative_to(ROOT / folder).as_posix()}")
    return modules


def test_wheel_contains_every_module(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("agentloop-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = source_modules() - names
    assert not missing, f"modules missing from the wheel (add their package to pyproject.toml): {sorted(missing)}"
    assert any(n.endswith("entry_points.txt") for n in names)
