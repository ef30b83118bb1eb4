"""`python -m mnist_study.demo`: the entry point, kept at its old path; the code is `mnist_study.app.demo`."""

import sys

from mnist_study.app.demo import main

if __name__ == "__main__":
    sys.exit(main())
