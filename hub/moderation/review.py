"""Post-then-review by default; pre-review for new accounts as an option.

:func:`pre_review_enabled` is the one switch: on when the operator's
``HUB_PRE_REVIEW_NEW_ACCOUNTS`` or the admins' run-time site setting (``hub.site``,
``/admin/site``) says so. Works, threads
and comments (domains below this one) reach it through the :class:`ReviewPolicy` installed
here into :mod:`hub.accounts.trust` when this module is imported (the app's routes import it).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hub import site
from hub.accounts.trust import ReviewPolicy, install_review_policy
from hub.db import settings_of
from hub.moderation.service import queue_held


async def pre_review_enabled(session: AsyncSession) -> bool:
    """Whether new accounts' works, threads and comments wait for a moderator's approval."""
    if settings_of(session).pre_review_new_accounts:
        return True
    return (await site.current(session)).pre_review_new_accounts


install_review_policy(ReviewPolicy(enabled=pre_review_enabled, queue=queue_held))
