import sys

from photostyle.cli import main

sys.exit(main())
