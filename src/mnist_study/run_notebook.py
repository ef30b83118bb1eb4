"""`python -m mnist_study.run_notebook`: the runner's entry point at its old path (mnist_study.pipeline)."""

import sys

from mnist_study.pipeline.run_notebook import main

if __name__ == "__main__":
    sys.exit(main())
