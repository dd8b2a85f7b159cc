import sys

from livechip.cli import main

sys.exit(main())
