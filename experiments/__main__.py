import sys

from expobench.experiments.cli import main

sys.exit(main())
