"""Where forum things live on the site, and their ids (rows read or flushed always have one)."""

from __future__ import annotations

from hub.forum.models import Comment, Thread


def thread_url(thread_id: int, slug: str) -> str:
    return f"/t/{thread_id}/{slug}"


def thread_id_of(thread: Thread) -> int:
    if thread.thread_id is None:  # pragma: no cover - rows read or flushed have their id
        raise RuntimeError("the thread has no id yet")
    return thread.thread_id


def comment_id_of(comment: Comment) -> int:
    if comment.comment_id is None:  # pragma: no cover - rows read or flushed have their id
        raise RuntimeError("the comment has no id yet")
    return comment.comment_id


def comment_url(thread: Thread, comment_id: int) -> str:
    """The comment on its thread's page (the page's anchor for it is ``c{id}``)."""
    return f"{thread_url(thread_id_of(thread), thread.slug)}#c{comment_id}"
