"""Jobs of the esign module."""

from __future__ import annotations
