"""`python -m mnist_study.run_notebook`: the entry point, kept at its old path; the code is mnist_study.workflow."""

import sys

from mnist_study.workflow.run_notebook import main

if __name__ == "__main__":
    sys.exit(main())
