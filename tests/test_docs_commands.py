"""Every command in README.md and docs/*.md runs on a fresh clone as written: each program's command
line composes (`--cfg job`; a sweep's first job), and every path it names exists in the repository
or is made by an earlier command (a run or sweep folder, a copy, an export)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_lightning.hydra_setup import PROJECT_ROOT

PAGES = [
    "README.md",
    *(
        f"docs/{p}.md"
        for p in ("configuration", "persistence", "serving", "sweeps", "tracking", "speed", "development")
    ),
]
HYDRA_PROGRAMS = {"train", "evaluate", "export", "predict", "serve"}
MAKES = (
    "hydra.run.dir=",
    "hydra.sweep.dir=",
    "export_dir=",
)  # keys whose value is a folder the command makes


def fenced_commands(text: str) -> list[tuple[str, bool]]:
    """Shell commands of a page: every line of a ```bash block, and `$ ...` lines of other blocks, each
    with whether the page shows it failing (an `error:` line follows it)."""
    commands: list[tuple[str, bool]] = []
    block, language = None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            block, language = (None, "") if block is not None else ([], line[3:].strip())
            continue
        if block is None:
            continue
        if language in ("bash", "sh"):
            command = line
        elif line.startswith("$ "):
            command = line[2:]
        else:
            if commands and "error:" in line and language not in ("bash", "sh"):
                commands[-1] = (commands[-1][0], True)
            continue
        if commands and commands[-1][0].endswith("\\"):
            commands[-1] = (commands[-1][0][:-1] + " " + command.strip(), False)
        elif command.strip() and not command.lstrip().startswith("#"):
            commands.append((command.strip(), False))
    return commands


def segments(command: str) -> list[list[str]]:
    """The simple commands of a line (split at &&, ;, |, &), as words, comments dropped."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split, lexer.commenters = True, "#"
    parts, current = [], []
    for word in lexer:
        if set(word) <= set(";&|"):
            parts.append(current)
            current = []
        else:
            current.append(word)
    return [p for p in [*parts, current] if p]


def all_commands() -> list[tuple[str, int, list[str], bool]]:
    found = []
    for page in PAGES:
        for n, (command, fails) in enumerate(fenced_commands((PROJECT_ROOT / page).read_text())):
            found += [(page, n, words, fails) for words in segments(command)]
    return found


COMMANDS = all_commands()


def named_paths(words: list[str]) -> list[str]:
    """The relative paths a command names: arguments and values holding a '/' (`ckpt=outputs/tutorial`,
    `@docs/digits/7.png`), not URLs, absolute paths, the home folder, config groups or placeholders."""
    paths = []
    for word in words:
        value = word.split("=", 1)[1] if "=" in word and not word.startswith(("-", "/")) else word
        value = value.strip("'\"").removeprefix("@")
        if "<" in value or "..." in value.replace("../", "") or "*" in value:
            continue  # a placeholder, e.g. outputs/<run>
        if "/" not in value or ":" in value or value.startswith(("/", "~", "-")) or set(value) & set("{[$ "):
            continue
        if "=" in word and word.split("=", 1)[0].startswith("hydra/") or word.startswith("hydra/"):
            continue  # a config group, hydra/launcher=joblib
        paths.append(value.rstrip("/"))
    return paths


CHECKPOINT_KEYS = ("ckpt=", "ckpt_path=", "init_from=", "--ckpt", "--run")
MODEL_FILES = ("*.ckpt", "*.pt2", "*.onnx")


def named_models(words: list[str]) -> list[str]:
    """The paths a command reads a model from (`ckpt=`, `--ckpt DIR`, ...)."""
    models = [w.split("=", 1)[1].strip("'\"") for w in words if w.startswith(CHECKPOINT_KEYS) and "=" in w]
    models += [words[i + 1].strip("'\"") for i, w in enumerate(words[:-1]) if w in ("--ckpt", "--run")]
    return [m for m in models if "<" not in m]


def made_by(words: list[str]) -> list[str]:
    made = [w.split("=", 1)[1].strip("'\"") for w in words if w.startswith(MAKES)]
    if words[:2] == ["python", "src/export.py"]:
        made += [f"{w.split('=', 1)[1]}/export" for w in words if w.startswith("ckpt=")]
    if words[0] == "cp" or words[:3] == ["git", "worktree", "add"]:
        made.append(words[-1] if words[0] == "cp" else words[3])
    if words[0] in ("python", "python3") and words[1:3] == ["-m", "venv"]:
        made.append(words[-1])
    return made


def test_the_pages_hold_commands():
    """The reader extracts something from every page (a page without commands would be checked vacuously)."""
    pages = {page for page, *_ in COMMANDS}
    assert pages == set(PAGES)
    assert sum(words[:2] == ["python", "src/train.py"] for _, _, words, _ in COMMANDS) >= 10
    assert any(fails for *_, fails in COMMANDS)  # the pages show some errors, which are checked apart


def test_every_path_a_command_names_exists_or_an_earlier_command_makes_it():
    """Also: a folder a model is read from (`ckpt=`, `--ckpt`) holds one, unless an earlier command makes it."""
    made: set[str] = set()
    missing = []
    for page, n, words, fails in COMMANDS:
        if fails:
            continue  # shown failing, possibly on purpose for a missing path

        def earlier(path: str, words: list[str] = words) -> bool:
            return any(path == m or path.startswith(m + "/") for m in made) or path in made_by(words)

        for path in named_paths(words):
            if not (PROJECT_ROOT / path).exists() and not earlier(path):
                missing.append(f"{page} command {n}: {path} does not exist ({' '.join(words)[:100]})")
        for model in named_models(words):
            found = PROJECT_ROOT / model
            holds = found.is_file() or any(next(found.rglob(pattern), None) for pattern in MODEL_FILES)
            if found.exists() and not holds and not earlier(model):
                missing.append(f"{page} command {n}: {model} holds no model ({' '.join(words)[:100]})")
        made.update(m.rstrip("/") for m in made_by(words))
    assert not missing, "\n".join(missing)


def first_job(words: list[str]) -> list[str]:
    """A multirun's arguments as its first job's: `-m` dropped, each swept key given its first value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, args = OverridesParser.create(), []
    for word in words:
        if word in ("-m", "--multirun"):
            continue
        word = re.sub(r"<[^>]*>", "placeholder", word)  # outputs/<run>, partition=<partition>
        override = parser.parse_override(word)
        if override.is_sweep_override():
            word = f"{override.get_key_element()}={next(iter(override.sweep_string_iterator()))}"
        args.append(word)
    return args


PROGRAM_LINES = [
    pytest.param(words, fails, id=f"{page}:{n}:{' '.join(words[1:4])}")
    for page, n, words, fails in COMMANDS
    if words[0] == "python"
    and len(words) > 1
    and Path(words[1]).stem in HYDRA_PROGRAMS
    and words[1].startswith("src/")
]


@pytest.mark.parametrize(("words", "fails"), PROGRAM_LINES)
def test_each_program_command_composes(words, fails):
    """As written it composes; one the page shows failing fails as shown: one error line, exit 2
    (or, where the error comes from a check the program runs, composes)."""
    composed = subprocess.run(
        [sys.executable, words[1], *first_job(words[2:]), "--cfg", "job"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if fails and composed.returncode:
        assert composed.returncode == 2 and composed.stderr.startswith("error: "), composed.stderr[-2000:]
        return
    assert composed.returncode == 0, composed.stderr[-2000:]
    assert "seed:" in composed.stdout or "ckpt:" in composed.stdout  # the composed config was printed
