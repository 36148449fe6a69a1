"""`mindlinks evidence ...`: verify an evidence bundle offline, pin trust anchors."""

from __future__ import annotations

import typer

evidence_app = typer.Typer(help="Evidence bundles: verify offline, pin trust anchors.")
