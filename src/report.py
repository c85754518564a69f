"""Aggregate a sweep folder into tables and plots: `python src/report.py outputs/multirun/<...>`.

Multiruns do this by themselves when they end; this is for interrupted or partial sweeps.
"""

import argparse
import logging

from mnist_lightning.cli import quiet_third_party_noise, run_reporting_errors
from mnist_lightning.errors import UserError
from mnist_lightning.study.report import write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", help="a multirun folder (holding one folder per job)")
    parser.add_argument("--reference", help="the configuration differences are measured against, e.g. lr=0.1 "
                        "(default: the first configuration of the sweep)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    quiet_third_party_noise()

    def report() -> None:
        try:
            write_report(args.sweep, args.reference)
        except FileNotFoundError as exc:
            raise UserError(str(exc)) from exc
        print(open(f"{args.sweep}/results.md").read())

    run_reporting_errors(report)


if __name__ == "__main__":
    main()
