"""Room gallery: an index on images for a room's images, newest first.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # GET /api/v1/rooms/{slug}/images pages on (created_at, image_id) within one room.
    op.create_index("ix_images_room_created", "images", ["room_id", "created_at", "image_id"])


def downgrade() -> None:
    op.drop_index("ix_images_room_created", table_name="images")
