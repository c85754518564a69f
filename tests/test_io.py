"""Result files are written atomically: a writer killed mid-way leaves the old file or the new one."""

import json
import re
import signal
import stat
import subprocess
import sys

import pytest

from mnist_lightning.hydra_setup import PROJECT_ROOT
from mnist_lightning.io import atomic_write, write_csv, write_json

WRITER = """
import sys, time
from mnist_lightning.io import atomic_write
with atomic_write(sys.argv[1]) as handle:
    handle.write('{"new": [' + '1, ' * 100000)
    handle.flush()
    print("half written", flush=True)
    time.sleep(60)
    handle.write('1]}')
"""


def test_a_writer_killed_mid_way_leaves_the_old_file(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"old": True})
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(PROJECT_ROOT / "src")},
    )
    try:
        assert writer.stdout.readline().strip() == "half written"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert json.loads(path.read_text()) == {"old": True}


def test_an_error_inside_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "results.md"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as handle:
        handle.write("half")
        raise KeyboardInterrupt
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["results.md"]


def test_written_files_are_complete_and_readable_like_plain_ones(tmp_path):
    path = write_csv(tmp_path / "sub" / "results.csv", ["a", "b"], [{"a": 1, "b": 2, "ignored": 3}])
    assert path.read_text() == "a,b\n1,2\n"
    assert stat.S_IMODE(path.stat().st_mode) & 0o044  # not mkstemp's 0600: others may read results


def test_every_result_writer_goes_through_the_atomic_helper():
    """No result file written in place: io.py holds the package's only writes."""
    in_place = re.compile(r"\.write_text\(|\.write_bytes\(|open\([^)]*[\"'][wa]b?[\"']")
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{n}"
        for path in (PROJECT_ROOT / "src" / "mnist_lightning").rglob("*.py")
        if path.name != "io.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if in_place.search(line)
    ]
    assert offenders == []
