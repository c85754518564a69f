"""The schema of every program's config: each key's type (the dataclass field's annotation) and range
(its `rule`), checked in each job before any work, so a bad value is one line naming the key.

conf/*.yaml keep the defaults; these dataclasses say what a value may be (`MISSING` here: the schema
holds no second copy of a default). OmegaConf converts and checks the types (`"5"` -> 5 for an int,
`maybe` refused for a bool); `check_config` then applies the ranges. It runs inside each job's error
boundary (console.run_reporting_errors), so in a sweep a bad value fails its own job, not the sweep.
Keys the schema leaves open (Lightning's own trainer/callback/logger arguments, `module`'s
interpolations) are still Hydra's: unknown keys are refused when the config is composed.
"""

# ruff: noqa: UP006, UP045, RUF009 - OmegaConf reads typing's List/Optional; rule() makes the fields

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional  # noqa: UP035

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError

from mnist_lightning.errors import invalid_value

# The names each registry takes (tests/test_schema.py checks they are the registries' own, which import torch).
VAL_IMAGES = ("first", "random")
WEIGHTS = (None, "ema", "raw")
SPLITS = ("val", "test")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "none")
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
SCHEDULES = ("exp", "constant")
COMPUTE_DTYPES = ("fp32", "bf16")
EXPORT_FORMATS = ("pt2", "onnx", "json", "all")
RESULT_STYLES = ("text", "json", "csv")
DATASETS = ("mnist", "fashion_mnist")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


def rule(expected: str, ok: Callable[[Any], bool] = lambda v: True) -> Any:
    """A field that takes its value from conf/ and must satisfy `ok`; `expected` is the error's wording."""
    return field(default=MISSING, metadata={"expected": expected, "ok": ok})


def positive(v: Any) -> bool:
    return v is not None and v > 0 and math.isfinite(v)


def at_least(low: float) -> Callable[[Any], bool]:
    return lambda v: v is not None and v >= low and math.isfinite(v)


def one_of(*choices: Any) -> Callable[[Any], bool]:
    return lambda v: v in choices


def optional(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or ok(v)


def choices_text(choices: Any) -> str:
    return "one of " + ", ".join("null" if c is None else str(c) for c in choices)


@dataclass
class Model:
    in_features: int = rule("an integer > 0", positive)
    hidden: List[int] = rule(
        "a list of integers > 0, e.g. [500] or [] (no hidden layer)", lambda v: all(h > 0 for h in v)
    )
    num_classes: int = rule("an integer >= 2", at_least(2))
    activation: str = rule(choices_text(ACTIVATIONS), one_of(*ACTIVATIONS))
    init_std: float = rule("a number > 0", positive)
    bias_init: float = rule("a finite number", lambda v: math.isfinite(v))


@dataclass
class Data:
    name: str = rule(choices_text(DATASETS), one_of(*DATASETS))
    root: Optional[str] = rule("a folder holding the IDX files")
    download: bool = rule("true or false")
    batch_size: int = rule("an integer > 0", positive)
    eval_batch_size: int = rule("an integer > 0", positive)
    val_size: int = rule("an integer > 0", positive)
    val_images: str = rule(choices_text(VAL_IMAGES), one_of(*VAL_IMAGES))
    val_seed: int = rule("an integer")
    shuffle_seed: int = rule("an integer")
    track_test: bool = rule("true or false")


@dataclass
class Schedule:
    name: str = rule(choices_text(SCHEDULES), one_of(*SCHEDULES))
    decay_rate: float = rule("a number in (0, 1]", lambda v: 0 < v <= 1)
    decay_steps: float = rule("a number > 0", positive)
    staircase: bool = rule("true or false")


@dataclass
class Optimizer:
    name: str = rule(choices_text(OPTIMIZERS), one_of(*OPTIMIZERS))
    momentum: float = rule("a number in [0, 1)", lambda v: 0 <= v < 1)
    nesterov: bool = rule("true or false")


@dataclass
class Reg:
    rate: float = rule("a number >= 0", at_least(0))


@dataclass
class Ema:
    decay: Optional[float] = rule("null (off) or a number in (0, 1)", optional(lambda v: 0 < v < 1))


@dataclass
class Precision:
    name: str = rule(choices_text(COMPUTE_DTYPES) + " (precision=fp32|bf16)", one_of(*COMPUTE_DTYPES))


def devices_ok(v: Any) -> bool:
    """Lightning's `devices`: a count (-1: all), a list of indices, "auto", or indices as text ("0,1")."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v == -1 or v >= 1
    if isinstance(v, list):
        return bool(v) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)
    return (
        v == "auto"
        or all(part.strip().isdigit() for part in str(v).split(",") if part.strip())
        and bool(str(v).strip(", "))
    )


@dataclass
class Trainer:
    accelerator: str = rule(choices_text(ACCELERATORS), one_of(*ACCELERATORS))
    devices: Any = rule('a device count (-1: all), a list of indices such as [0,1], or "auto"', devices_ok)
    max_steps: int = rule("an integer > 0", positive)
    val_check_interval: int = rule("an integer number of steps > 0", positive)
    log_every_n_steps: int = rule("an integer > 0", positive)
    precision: Optional[str] = rule(
        "unset: the project's precision=fp32|bf16 chooses the training GEMMs' dtype", lambda v: v is None
    )


@dataclass
class ModelCheckpoint:
    save_top_k: int = rule("an integer >= -1 (-1: keep all)", at_least(-1))
    save_last: bool = rule("true or false")


@dataclass
class Callbacks:
    model_checkpoint: ModelCheckpoint = field(default_factory=ModelCheckpoint)


@dataclass
class Report:
    reference: Optional[str] = rule("a configuration, e.g. lr=0.1, or null (the first)")
    retrain_best_seeds: int = rule("an integer >= 0", at_least(0))
    raw_weights_of: Dict[str, str] = rule("a mapping such as {no_ema: all}, or {}")


@dataclass
class Module:
    hand_written_gradients: bool = rule("true or false")
    cuda_graph: bool = rule("true or false")


@dataclass
class Train:
    seed: int = rule("an integer")
    lr: float = rule("a number > 0", positive)
    ckpt_path: Optional[str] = rule("a checkpoint, checkpoints/ or run folder")
    init_from: Optional[str] = rule("a checkpoint or run folder")
    init_weights: Optional[str] = rule(choices_text(WEIGHTS), one_of(*WEIGHTS))
    torch_threads: Optional[int] = rule("null (automatic) or an integer >= 1", optional(at_least(1)))
    test: bool = rule("true or false")
    steps_per_call: int = rule("an integer > 0", positive)
    optimized_metric: str = rule("a metrics.json key such as val_acc")
    track_test: bool = rule("true or false")
    report: Report = field(default_factory=Report)
    module: Module = field(default_factory=Module)
    model: Model = field(default_factory=Model)
    data: Data = field(default_factory=Data)
    optimizer: Optimizer = field(default_factory=Optimizer)
    lr_schedule: Schedule = field(default_factory=Schedule)
    reg: Reg = field(default_factory=Reg)
    ema: Ema = field(default_factory=Ema)
    precision: Precision = field(default_factory=Precision)
    trainer: Trainer = field(default_factory=Trainer)
    callbacks: Callbacks = field(default_factory=Callbacks)


@dataclass
class EvalData:
    root: Optional[str] = rule("a folder holding the IDX files, or null (the checkpoint's)")
    download: bool = rule("true or false")
    eval_batch_size: Optional[int] = rule("null (the checkpoint's) or an integer > 0", optional(positive))


@dataclass
class Evaluate:
    ckpt: Optional[str] = rule("a checkpoint file, a checkpoints/ or run folder")
    split: str = rule(choices_text(SPLITS), one_of(*SPLITS))
    weights: Optional[str] = rule(choices_text(WEIGHTS), one_of(*WEIGHTS))
    results_file: Optional[str] = rule("a file path, or null (<run folder>/evaluation.json)")
    watch: bool = rule("true or false")
    interval: float = rule("a number of seconds > 0", positive)
    max_evals: Optional[int] = rule("null (no limit) or an integer >= 1", optional(at_least(1)))
    timeout: Optional[float] = rule("null (no limit) or a number of seconds > 0", optional(positive))
    data: EvalData = field(default_factory=EvalData)


@dataclass
class Export:
    ckpt: Optional[str] = rule("a checkpoint file, a checkpoints/ or run folder")
    format: str = rule(choices_text(EXPORT_FORMATS), one_of(*EXPORT_FORMATS))
    weights: Optional[str] = rule(choices_text(WEIGHTS), one_of(*WEIGHTS))
    export_dir: Optional[str] = rule("a folder, or null (<run folder>/export)")
    name: str = rule("a file name without folders")


@dataclass
class Predict:
    ckpt: Optional[str] = rule("a checkpoint, checkpoints/ or run folder, a .pt2 or an .onnx file")
    weights: Optional[str] = rule(choices_text(WEIGHTS), one_of(*WEIGHTS))
    results_as: str = rule(choices_text(RESULT_STYLES), one_of(*RESULT_STYLES))
    results_file: Optional[str] = rule("a file path, or null (print)")


@dataclass
class Serve:
    ckpt: Optional[str] = rule("a checkpoint, checkpoints/ or run folder, a .pt2 or an .onnx file")
    weights: Optional[str] = rule(choices_text(WEIGHTS), one_of(*WEIGHTS))
    host: str = rule("a host name or address, e.g. 127.0.0.1", lambda v: bool(v.strip()))
    port: int = rule("an integer port in [0, 65535]", lambda v: 0 <= v <= 65535)
    max_request_bytes: int = rule("an integer > 0", positive)
    top_k: int = rule("an integer in [1, 10]", lambda v: 1 <= v <= 10)
    torch_threads: int = rule("an integer >= 1", at_least(1))
    allowed_hosts: List[str] = rule(
        "a list of host names, e.g. [127.0.0.1,localhost]", lambda v: len(v) > 0 and all(h.strip() for h in v)
    )
    request_timeout: float = rule("a number of seconds > 0", positive)
    max_connections: int = rule("an integer >= 1", at_least(1))
    decode_slots: int = rule("an integer >= 1", at_least(1))
    decode_timeout: float = rule("a number of seconds > 0", positive)


SCHEMAS: dict[str, type] = {
    "train": Train,
    "evaluate": Evaluate,
    "export": Export,
    "predict": Predict,
    "serve": Serve,
}


def _describe_type(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("Optional[", "null or ")
    return {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}.get(
        text, text
    )


def _open(schema_class: type, schema: Any) -> Any:
    """The schema as an OmegaConf node that takes the config's other keys as they are."""
    OmegaConf.set_struct(schema, False)
    for f in fields(schema_class):
        if _nested(f):
            _open(_nested(f), schema[f.name])  # type: ignore[arg-type]
    return schema


def _nested(f: dataclasses.Field) -> type | None:
    return None if f.default_factory is dataclasses.MISSING else f.default_factory  # type: ignore[return-value]


def _check_fields(schema_class: type, node: DictConfig, prefix: str) -> None:
    """Each field of the schema, read from the typed config (so resolved and type-checked), then its rule."""
    for f in fields(schema_class):
        key = f"{prefix}{f.name}"
        if _nested(f):
            if OmegaConf.is_dict(
                node._get_node(f.name)
            ):  # an absent group (e.g. evaluate's data) is no error
                _check_fields(_nested(f), node[f.name], f"{key}.")  # type: ignore[arg-type]
            continue
        if OmegaConf.is_missing(node, f.name):  # required keys are checked (and named) before this
            continue
        try:
            value = node[f.name]
        except (
            OmegaConfBaseException
        ) as exc:  # an interpolation that fails, or whose result has the wrong type
            given = node._get_node(f.name)._value()
            raise invalid_value(key, given, _expected(schema_class, f.name)) from exc
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        try:
            fine = f.metadata["ok"](value) if "ok" in f.metadata else True
        except (TypeError, ValueError, AttributeError):
            fine = False
        if not fine:
            raise invalid_value(key, value, f.metadata["expected"])


def _expected(schema_class: type, key: str) -> str:
    """The wording of `key`'s field: its rule's, else its type's."""
    node: Any = schema_class
    for part in key.split("."):
        match = (
            next((f for f in fields(node) if f.name == part), None)
            if dataclasses.is_dataclass(node)
            else None
        )
        if match is None:
            break
        if _nested(match):
            node = _nested(match)
            continue
        return match.metadata.get("expected") or _describe_type(match.type)
    return "a value of the right type (see --help)"


def check_config(program: str, cfg: DictConfig) -> None:
    """Types then ranges of every key the program's schema names; one ConfigError naming the first bad key."""
    schema_class = SCHEMAS.get(program)
    if schema_class is None:
        return
    try:
        typed = OmegaConf.merge(_open(schema_class, OmegaConf.structured(schema_class)), cfg)
    except ValidationError as exc:
        key = str(exc.full_key)
        value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        raise invalid_value(key, value, _expected(schema_class, key)) from exc
    _check_fields(schema_class, typed, "")
