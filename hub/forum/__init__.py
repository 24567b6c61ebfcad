"""The forum: categories, threads with Markdown bodies, nested comments, moderation of threads."""
