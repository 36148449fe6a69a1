"""Jobs of the payments module."""

from __future__ import annotations
