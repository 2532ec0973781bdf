import sys

from designer.core.cli import main

sys.exit(main())
