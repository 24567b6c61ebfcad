"""Bodies of the social API (follows; reactions are answered by the domain that owns the target,
which keeps the counts)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from hub.accounts.schemas import UserPublic
from hub.pagination import Page


class FollowOut(BaseModel):
    username: str
    following: bool = Field(description="Whether you follow this user now.")
    changed: bool = Field(description="False when you already (or still did not) follow them.")
    follower_count: int = Field(description="People who follow this user.")
    following_count: int = Field(description="People this user follows.")


class UserPage(Page[UserPublic]):
    pass
