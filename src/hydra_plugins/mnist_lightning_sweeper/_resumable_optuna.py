"""hydra-optuna-sweeper, resumable: `n_trials` counts the whole study, so a search restarted on the
same storage (same `hydra.sweep.dir` and study name) runs only the trials still missing, and none
of the trials it already ran.

The plugin itself already loads an existing study (`load_if_exists=True`) but always runs
`n_trials` more, numbers its job folders from 0 again, and leaves the trial that was running when
the search was killed marked RUNNING. Here, before the plugin's own loop: that trial is marked
FAIL (its job never finished), the trials still to run are `n_trials` minus the complete ones, and
job folders continue from the study's trial count, so folder `k_...` is Optuna's trial k. The
sampler, rebuilt from its seed, would replay the random startup trials already run: its random
state moves on by the number of trials (deterministically, so a resume is repeatable).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

log = logging.getLogger(__name__)
SQLITE = "sqlite:///"


class ResumableOptunaSweeper(OptunaSweeper):
    def sweep(self, arguments: list[str]) -> Any:
        search = self.sweeper  # the plugin's implementation: storage, study_name, n_trials, job_idx
        if isinstance(search.storage, str) and search.storage.startswith(SQLITE):
            Path(search.storage[len(SQLITE) :]).parent.mkdir(
                parents=True, exist_ok=True
            )  # before create_study
        if search.storage:
            check_storage(search.storage)
            self._continue_study(search)
        return super().sweep(arguments)

    @staticmethod
    def _continue_study(search: Any) -> None:
        import optuna
        from optuna.trial import TrialState

        try:
            study = optuna.load_study(study_name=search.study_name, storage=search.storage)
        except KeyError:  # a new study: nothing to continue
            return
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study.tell(trial.number, state=TrialState.FAIL)  # its search was stopped while it ran
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
        requested = search.n_trials
        search.n_trials = max(0, requested - done)
        search.job_idx = len(study.trials)
        _move_on(search.sampler, len(study.trials))
        log.info(
            "Continuing study %s: %d of %d trials complete, %d to run (job folders from %d)",
            search.study_name,
            done,
            requested,
            search.n_trials,
            search.job_idx,
        )


def check_storage(url: str) -> None:
    """The study's database opens, or one line names it (the CLI prints Hydra's errors as one line)."""
    import optuna
    from hydra.errors import HydraException

    try:
        optuna.storages.get_storage(url)
    except Exception as exc:  # SQLAlchemy and the database drivers raise their own types
        raise HydraException(  # the CLI prints it on one line, with the cause
            f"the Optuna storage hydra.sweeper.storage={url} cannot be opened: check the URL and that its "
            "database answers, or keep the default (a SQLite file in the sweep folder)."
        ) from exc


def _move_on(sampler: Any, trials: int) -> None:
    """Reseed the sampler's random states from their seeded state and the trial count (Optuna 2.x
    samplers keep them in `_rng`; TPE's startup trials come from its inner `_random_sampler`)."""
    import numpy as np

    for owner in (sampler, getattr(sampler, "_random_sampler", None)):
        rng = getattr(owner, "_rng", None)
        if isinstance(rng, np.random.RandomState):
            owner._rng = np.random.RandomState((int(rng.randint(2**31 - 1)) + trials) % (2**31 - 1))
