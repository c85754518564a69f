"""A normal install (a wheel, not `-e`) gives commands that work outside the checkout.

The wheel is built offline from a copy of the project; it is installed without dependencies into
a fresh virtualenv that sees the packages of the interpreter running the suite (a `.pth` file:
`--system-site-packages` would see the *base* interpreter's, not this virtualenv's).
"""

import json
import shutil
import site
import subprocess
import sys
from pathlib import Path

from mnist_lightning.hydra_setup import PROJECT_ROOT

SCRIPTS = ["mnist-train", "mnist-evaluate", "mnist-export", "mnist-predict", "mnist-serve", "mnist-report"]
SOURCES = ["conf", "src", "pyproject.toml", "setup.py", "README.md", "requirements.txt"]


def build_wheel(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    for name in SOURCES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "local")
            )
        else:
            shutil.copy2(source, project / name)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "-w",
            str(tmp_path / "dist"),
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("mnist_lightning-*.whl")
    return wheel


def venv_seeing_these_packages(venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    [venv_site] = (venv / "lib").glob("python3*/site-packages")
    paths = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
    (venv_site / "_test_suite_packages.pth").write_text("\n".join(paths) + "\n")
    return venv / "bin"


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, check=False)


def test_wheel_install_runs_outside_the_checkout(tmp_path, synthetic_root):
    wheel = build_wheel(tmp_path)
    bin_dir = venv_seeing_these_packages(tmp_path / "venv")
    install = run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(bin_dir / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--ignore-installed",  # the suite's own interpreter may have the project installed too
            str(wheel),
        ],
        tmp_path,
    )  # this pip installs into the venv (which has none: faster)
    assert install.returncode == 0, install.stderr[-3000:]
    for script in SCRIPTS:
        assert (bin_dir / script).is_file(), script

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    helped = run([str(bin_dir / "mnist-train"), "--help"], elsewhere)
    assert (
        helped.returncode == 0
        and "mnist-train -m lr=0.1,0.8" in helped.stdout
        and "python src/" not in helped.stdout
    )
    unknown = run([str(bin_dir / "mnist-evaluate"), "colour=blue"], elsewhere)
    assert unknown.returncode == 2 and "unknown key colour" in unknown.stderr

    trained = run(
        [
            str(bin_dir / "mnist-train"),
            f"data.root={synthetic_root}",
            "data.val_size=200",
            "trainer.max_steps=20",
            "trainer.val_check_interval=20",
            "logger=none",
            "test=false",
        ],
        elsewhere,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    [metrics] = (elsewhere / "outputs").glob(
        "*/*/metrics.json"
    )  # the run folder is under this folder's outputs/
    assert json.loads(metrics.read_text())["step"] == 20
    imported_from = run(
        [str(bin_dir / "python"), "-c", "import mnist_lightning; print(mnist_lightning.__file__)"], elsewhere
    )
    assert str(tmp_path / "venv") in imported_from.stdout  # the installed copy ran, not the checkout
    evaluated = run(
        [str(bin_dir / "mnist-evaluate"), f"ckpt={metrics.parent}", f"data.root={synthetic_root}"], elsewhere
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "accuracy" in evaluated.stdout + evaluated.stderr
