"""`pip install -e .` gives the console scripts, which find conf/ and answer --help."""

import subprocess
import sys

from mnist_lightning.hydra_setup import PROJECT_ROOT

SCRIPTS = ["mnist-train", "mnist-evaluate", "mnist-export", "mnist-predict", "mnist-serve", "mnist-report"]


def test_editable_install_gives_working_console_scripts(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-deps", "--disable-pip-version-check", "-e", str(PROJECT_ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    dry = subprocess.run(  # the dependencies come from requirements.txt and are all satisfiable here
        [str(venv / "bin" / "pip"), "install", "--dry-run", "--disable-pip-version-check", "-e", str(PROJECT_ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    for script in SCRIPTS:
        assert (venv / "bin" / script).is_file(), script
    helped = subprocess.run([str(venv / "bin" / "mnist-train"), "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert helped.returncode == 0 and "python src/train.py -m lr=0.1,0.8" in helped.stdout
    unknown = subprocess.run([str(venv / "bin" / "mnist-evaluate"), "colour=blue"], capture_output=True, text=True,
                             timeout=120, cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown key colour" in unknown.stderr
