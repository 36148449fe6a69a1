"""WeasyPrint, imported in one place.

Importing WeasyPrint sets Pillow's `ImageFile.LOAD_TRUNCATED_IMAGES` for the whole
process, which would make the KYC image check accept a truncated upload. Every
image we render is one we checked already, so the strict default is restored here,
and every module imports WeasyPrint through this one.
"""

from __future__ import annotations

from PIL import ImageFile
from weasyprint import HTML  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

ImageFile.LOAD_TRUNCATED_IMAGES = False

__all__ = ["HTML", "URLFetcher"]
