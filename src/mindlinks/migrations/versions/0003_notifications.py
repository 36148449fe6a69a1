"""notifications: email deliveries, development mailbox, in-app notifications

Revision ID: 0003_notifications
Revises: 0001_foundation
Create Date: 2026-11-29 11:00:00

Branches beside 0002_companies (both revise 0001_foundation); the runner
upgrades to "heads", so the two apply in either order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mindlinks.db

revision = "0003_notifications"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_deliveries",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("mailer", sa.String(length=16), nullable=False),
        sa.Column("sent_at", mindlinks.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_deliveries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_email_deliveries_idempotency_key")),
    )
    op.create_table(
        "dev_mailbox",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("sent_at", mindlinks.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dev_mailbox")),
    )
    with op.batch_alter_table("dev_mailbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dev_mailbox_recipient"), ["recipient"], unique=False)
        batch_op.create_index(batch_op.f("ix_dev_mailbox_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=2000), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", mindlinks.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", mindlinks.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notifications_idempotency_key")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_user_id_created_at", ["user_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_id_created_at")
    op.drop_table("notifications")
    with op.batch_alter_table("dev_mailbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dev_mailbox_sent_at"))
        batch_op.drop_index(batch_op.f("ix_dev_mailbox_recipient"))
    op.drop_table("dev_mailbox")
    op.drop_table("email_deliveries")
