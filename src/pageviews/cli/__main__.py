"""`python -m pageviews.cli`: what tests and benches spawn, the same as the `pageviews` script."""

import sys

from pageviews.cli.main import main

sys.exit(main())
