"""Build hook: the wheel carries the top-level ``migrations/`` and ``exercises/`` as ``service/_bundled/``.

Why a copy at build time: the design keeps both folders at the repository root (authors edit exercises
there, Alembic finds migrations there), while an installed package can only ship files inside itself.
Editable installs skip the copy and read the checkout directly (see ``service.config.bundled_dir``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("migrations", "exercises")


class BuildWithBundledData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name in BUNDLED:
            target = Path(self.build_lib) / "service" / "_bundled" / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(ROOT / name, target,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithBundledData})
