"""`python src/report.py <sweep folder> [--reference key=value]`: a sweep's report (see --help)."""

from mnist_lightning.programs import report

if __name__ == "__main__":
    report()
