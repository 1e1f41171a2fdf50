"""``python -m serving_client``: see ``serving_client.cli``."""

from contract.cli import run
from serving_client.cli import main

run(main)
