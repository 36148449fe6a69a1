"""merge the companies and notifications branches into one head

Revision ID: 0004_merge
Revises: 0002_companies, 0003_notifications
Create Date: 2026-11-29 10:35:00
"""

from __future__ import annotations

revision = "0004_merge"
down_revision = ("0002_companies", "0003_notifications")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
