"""`python -m mnist_study.predict`: the entry point, kept at its old path; the code is `mnist_study.app.predict`."""

import sys

from mnist_study.app.predict import main

if __name__ == "__main__":
    sys.exit(main())
