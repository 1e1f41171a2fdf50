"""``python -m serving_client``: see ``serving_client.cli``."""

import sys

from serving_client.cli import main

sys.exit(main())
