"""Build hook: ship the repo's catalog/ in the package as kdrender/catalog/ (``kdrender init`` copies it).

There is one copy of every app file, the repo's catalog/ (the examples render from it); a wheel
gets it at build time, and a source checkout (editable install) reads it where it is
(kdrender/scaffold/__init__.py, ``bundled_catalog``).  All other metadata is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithCatalog(build_py):
    def run(self):
        super().run()
        source = HERE / "catalog"
        if self.editable_mode or not source.is_dir():
            return  # editable installs read catalog/ in place; a build without it ships no catalog
        target = Path(self.build_lib) / "kdrender" / "catalog"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.iterdir()):
            if path.suffix in (".json", ".yaml", ".yml") and path.is_file() and not path.is_symlink():
                shutil.copyfile(path, target / path.name)


setup(cmdclass={"build_py": BuildPyWithCatalog})
