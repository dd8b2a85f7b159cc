import sys

from livechip.cli.main import main

sys.exit(main())
