"""`python src/report.py <sweep folder> [--reference key=value]`: a sweep's report (see --help)."""

from mnist_lightning.apps import report

if __name__ == "__main__":
    report()
