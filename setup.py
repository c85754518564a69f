"""Ship conf/ and the entry points src/<program>.py inside the wheel (mnist_lightning/conf and
mnist_lightning/entry_points), so the installed mnist-* commands run the same files with the same configs.

Everything else is in pyproject.toml; in the checkout (and an editable install) both are read in place.
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
        entry_points = Path(self.build_lib) / "mnist_lightning" / "entry_points"
        entry_points.mkdir(parents=True, exist_ok=True)
        for program in ("train", "evaluate", "export", "predict", "serve"):
            shutil.copy2(Path(__file__).parent / "src" / f"{program}.py", entry_points)


setup(cmdclass={"build_py": BuildPyWithConfigs})
