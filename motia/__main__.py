import sys

from motia.cli import main

sys.exit(main())
