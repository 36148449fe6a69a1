"""Jobs of the contracts module."""

from __future__ import annotations
