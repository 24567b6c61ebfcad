"""The forum's service API for other domains, in one place (the contract of issue #10).

```python
ref = await create_thread(session, actor, category="showcase", title=..., body=..., limiter=None)
comment = await add_comment(session, actor, ref.id, body=..., parent_id=None, limiter=None)
ref = await visible_thread(session, actor_or_none, thread_id)      # 404 missing or deleted
slugs = await category_slugs(session)                              # in display order
counts = await comment_counts(session, thread_ids)                 # {thread_id: live comments}
html = render_markdown(text)                                       # hub.forum.markdown
docs = search_documents(session)              # every live thread and comment, for reindexing
```

Each lives in the module of its concept (threads, comments, categories); this module only gathers
them, so callers need not know the forum's layout.
"""

from __future__ import annotations

from hub.forum.categories import category_slugs
from hub.forum.comments import CommentRef, add_comment, comment_counts
from hub.forum.indexing import count_search_documents, search_documents
from hub.forum.markdown import render_markdown
from hub.forum.threads import ThreadRef, create_thread, visible_thread

__all__ = [
    "CommentRef",
    "ThreadRef",
    "add_comment",
    "category_slugs",
    "comment_counts",
    "count_search_documents",
    "create_thread",
    "render_markdown",
    "search_documents",
    "visible_thread",
]
