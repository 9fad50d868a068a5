import sys

from mobilebert_edge.cli import main

sys.exit(main())
