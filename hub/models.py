"""Imports every domain's tables so that SQLModel.metadata is complete (for Alembic).

Nothing else belongs here.
"""

from sqlmodel import SQLModel

from hub import site as site_models  # noqa: F401

# Each domain adds its import here when it gets tables, e.g.:
# from hub.accounts import models as accounts_models
from hub.accounts import models as accounts_models  # noqa: F401
from hub.audit import models as audit_models  # noqa: F401
from hub.collab import models as collab_models  # noqa: F401
from hub.credits import models as credits_models  # noqa: F401
from hub.forum import models as forum_models  # noqa: F401
from hub.generation import models as generation_models  # noqa: F401
from hub.moderation import models as moderation_models  # noqa: F401
from hub.notifications import models as notifications_models  # noqa: F401
from hub.payments import models as payments_models  # noqa: F401
from hub.prompts import models as prompts_models  # noqa: F401
from hub.search import models as search_models  # noqa: F401
from hub.social import models as social_models  # noqa: F401
from hub.storage import models as storage_models  # noqa: F401
from hub.works import models as works_models  # noqa: F401

metadata = SQLModel.metadata
