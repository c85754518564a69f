"""Hydra plugins of this project (Hydra instantiates plugins only from the `hydra_plugins` package).

Hydra imports this package at every start to find plugins: the sweeper is defined only where the
Optuna search extras (requirements-search.txt) are installed, so without them nothing warns.
"""

import importlib.util

if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None:
    from hydra_plugins.mnist_lightning_sweeper._resumable_optuna import ResumableOptunaSweeper

    __all__ = ["ResumableOptunaSweeper"]
