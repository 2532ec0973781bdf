"""Start the designer: ``python main.py [PROJECT]``."""
import sys

from designer.ui.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
