"""Ship conf/ inside the wheel as mnist_lightning/conf, so installed commands find their configs.

Everything else is in pyproject.toml; in the checkout (and an editable install) conf/ is read in place.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConfigs(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "mnist_lightning" / "conf"
        shutil.copytree(Path(__file__).parent / "conf", target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("local", "__pycache__"))


setup(cmdclass={"build_py": BuildPyWithConfigs})
