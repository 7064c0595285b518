"""Subcommands: placeholder until its issue lands; see motia/cli.py for the contract."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this module's subcommands to the `motia` parser."""
    del sub
