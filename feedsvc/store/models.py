"""Typed models: articles with their section, topics and authors; API tokens; site settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from feedsvc.store.db import UTCDateTime
from feedsvc.store.payload import (
    MAX_EMAIL,
    MAX_ID,
    MAX_KEY,
    MAX_LANGUAGE,
    MAX_MEDIA_TYPE,
    MAX_NAME,
    MAX_SLUG,
    RENDITION_FIELDS,
    Image,
    Rendition,
    rendition_json,
)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime}


class Setting(Base):
    """Values fixed at first start, such as the authority of every tag-URI id."""

    __tablename__ = "settings"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Section(Base):
    __tablename__ = "sections"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME), unique=True)
    slug: Mapped[str] = mapped_column(String(MAX_SLUG), unique=True)


class Topic(Base):
    __tablename__ = "topics"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME), unique=True)
    slug: Mapped[str] = mapped_column(String(MAX_SLUG), unique=True)


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME), unique=True)
    slug: Mapped[str] = mapped_column(String(MAX_SLUG), unique=True)


class Article(Base):
    """One article; a deleted one stays as a tombstone (``deleted`` set) so its id is never reused."""

    __tablename__ = "articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY), unique=True)
    uid: Mapped[str] = mapped_column(String(MAX_ID), unique=True)
    title: Mapped[str] = mapped_column(Text)
    section_id: Mapped[int] = mapped_column(ForeignKey("sections.id"))
    summary: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)
    published: Mapped[dt.datetime]
    updated: Mapped[dt.datetime]
    url: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    image_type: Mapped[str | None] = mapped_column(String(MAX_MEDIA_TYPE))
    image_length: Mapped[int | None] = mapped_column(Integer)
    # The lead image's sizes, texts and other renditions (issue 17; migration 0007). The
    # renditions are a JSON list of {url, type, width, height, length}: always read and
    # written with the article, never queried by.
    image_width: Mapped[int | None] = mapped_column(Integer)
    image_height: Mapped[int | None] = mapped_column(Integer)
    image_alt: Mapped[str | None] = mapped_column(Text)
    image_caption: Mapped[str | None] = mapped_column(Text)
    image_credit: Mapped[str | None] = mapped_column(Text)
    image_renditions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    language: Mapped[str | None] = mapped_column(String(MAX_LANGUAGE))
    deleted: Mapped[dt.datetime | None]
    # When the stored representation last changed (the save time): the basis of HTTP validators,
    # never shown as the editorial ``updated``.
    modified: Mapped[dt.datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    section: Mapped[Section] = relationship(lazy="joined", innerjoin=True)
    topic_links: Mapped[list[ArticleTopic]] = relationship(
        order_by="ArticleTopic.position", cascade="all, delete-orphan", back_populates="article")
    author_links: Mapped[list[ArticleAuthor]] = relationship(
        order_by="ArticleAuthor.position", cascade="all, delete-orphan", back_populates="article")

    __table_args__ = (
        # Newest first, site-wide and per section, in both orders; the id breaks ties.
        Index("ix_articles_published", "published", "id"),
        Index("ix_articles_updated", "updated", "id"),
        Index("ix_articles_section_published", "section_id", "published", "id"),
        Index("ix_articles_section_updated", "section_id", "updated", "id"),
        Index("ix_articles_deleted", "deleted"),
        Index("ix_articles_modified", "modified"),
    )
    # Every UPDATE says "WHERE version = <the version read>": of two racing edits one wins and
    # the other fails with StaleDataError instead of silently overwriting (If-Match, 412).
    __mapper_args__ = {"version_id_col": version}


# The image's columns in the order ``image_of`` takes them: the ORM, the bulk insert of an
# import and the feed's Core query (feeds/selection.py) all go through these two functions.
IMAGE_COLUMNS = (Article.image_url, Article.image_type, Article.image_length, Article.image_width,
                 Article.image_height, Article.image_alt, Article.image_caption,
                 Article.image_credit, Article.image_renditions)


def image_columns(image: Image | None) -> dict[str, Any]:
    """The column values that store ``image`` (all None for no image)."""
    if image is None:
        return {column.key: None for column in IMAGE_COLUMNS}
    return {"image_url": image.url, "image_type": image.type, "image_length": image.length,
            "image_width": image.width, "image_height": image.height, "image_alt": image.alt,
            "image_caption": image.caption, "image_credit": image.credit,
            "image_renditions": [rendition_json(r) for r in image.renditions] or None}


def image_of(values: Sequence[Any]) -> Image | None:
    """The image stored in the IMAGE_COLUMNS ``values`` (None when there is no URL)."""
    url, media_type, length, width, height, alt, caption, credit, renditions = values
    if not url:
        return None
    sizes = tuple(Rendition(**{name: r.get(name) for name in RENDITION_FIELDS}) for r in renditions or ())
    return Image(url, media_type, length, width, height, alt, caption, credit, sizes)


def article_image(article: Article) -> Image | None:
    return image_of([getattr(article, column.key) for column in IMAGE_COLUMNS])


class ArticleTopic(Base):
    """An article's topic, with the article's dates copied so "newest in topic" is one index walk."""

    __tablename__ = "article_topics"
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"),
                                            primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    published: Mapped[dt.datetime]
    updated: Mapped[dt.datetime]

    article: Mapped[Article] = relationship(back_populates="topic_links")
    topic: Mapped[Topic] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        Index("ix_article_topics_published", "topic_id", "published", "article_id"),
        Index("ix_article_topics_updated", "topic_id", "updated", "article_id"),
    )


class ArticleAuthor(Base):
    """An article's author; email and url belong to the byline, as the article gave them."""

    __tablename__ = "article_authors"
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"),
                                            primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    email: Mapped[str | None] = mapped_column(String(MAX_EMAIL))
    url: Mapped[str | None] = mapped_column(Text)
    published: Mapped[dt.datetime]
    updated: Mapped[dt.datetime]

    article: Mapped[Article] = relationship(back_populates="author_links")
    author: Mapped[Author] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        Index("ix_article_authors_published", "author_id", "published", "article_id"),
        Index("ix_article_authors_updated", "author_id", "updated", "article_id"),
    )


class ApiToken(Base):
    """An API token: a public lookup prefix and the SHA-256 of the whole secret, never the secret."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created: Mapped[dt.datetime]
    revoked: Mapped[dt.datetime | None]


class FeedScope(Base):
    """A version per feed scope, bumped in every write that touches it.

    A server process compares it with the version its cached documents were rendered from:
    one primary-key read tells whether any process has changed the scope since, and whether an
    embargoed article written without a new version has come due since (see freshness.record_due).
    """

    __tablename__ = "feed_scopes"
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # "" for the whole site
    slug: Mapped[str] = mapped_column(String(MAX_SLUG), primary_key=True)  # "" for the whole site
    version: Mapped[int] = mapped_column(Integer)
    changed: Mapped[dt.datetime]
    # POSIX seconds, compared on every poll.
    due: Mapped[int | None] = mapped_column(BigInteger)  # the earliest instant still to come
    settled: Mapped[int | None] = mapped_column(BigInteger)  # a later-written due that passed


class FeedDocument(Base):
    """A canonical feed document (a feed's first page as pollers poll it), rendered once per
    change for every server process (feeds/freshness.py).

    ``version`` is the scope's version it was rendered at; ``last_modified`` moves only when a
    render gives bytes whose hash differs from ``etag``, and then always forward, so it changes
    exactly when the document does (RFC 9110 8.8.2). ``body`` is the gzipped document.
    """

    __tablename__ = "feed_documents"
    variant: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the address
    kind: Mapped[str] = mapped_column(String(20))  # its scope; "" for the whole site
    slug: Mapped[str] = mapped_column(String(MAX_SLUG))
    version: Mapped[int] = mapped_column(Integer)
    etag: Mapped[str] = mapped_column(String(64))  # the hash of the plain bytes
    last_modified: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime | None]  # the instant time alone changes it
    rendered: Mapped[dt.datetime]  # the render's clock
    content_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)


class WebSubSubscription(Base):
    """A verified WebSub subscription: one callback on one topic (W3C WebSub 5.1).

    A row exists only once the subscriber confirmed its intent; ``state`` is "active",
    "unsubscribed" or "gone" (the callback answered 410). An active row whose ``expires`` has
    passed is expired: it gets nothing until renewed.
    """

    __tablename__ = "websub_subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of topic and callback
    topic: Mapped[str] = mapped_column(Text)  # exactly as the subscriber gave it
    topic_key: Mapped[str] = mapped_column(String(64))  # SHA-256 of the topic
    callback: Mapped[str] = mapped_column(Text)
    scope_kind: Mapped[str] = mapped_column(String(20))  # "" for the whole site
    scope_slug: Mapped[str] = mapped_column(String(MAX_SLUG))  # "" for the whole site
    state: Mapped[str] = mapped_column(String(20))
    secret: Mapped[str | None] = mapped_column(String(200))
    lease_seconds: Mapped[int] = mapped_column(Integer)
    expires: Mapped[dt.datetime]
    created: Mapped[dt.datetime]
    changed: Mapped[dt.datetime]
    last_attempt: Mapped[dt.datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        Index("ix_websub_subscriptions_scope", "scope_kind", "scope_slug"),
        Index("ix_websub_subscriptions_topic", "topic_key"),
    )


class WebSubTopic(Base):
    """The last document the hub distributed for a topic, so only a changed one goes out."""

    __tablename__ = "websub_topics"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the topic
    topic: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of body
    body: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(100))
    changed: Mapped[dt.datetime]


class WebSubJob(Base):
    """The outbox: a change to expand, a verification, a delivery or a publish ping.

    Written in the transaction that caused it and deleted once it succeeded or was given up,
    so a crash loses none. A "change" names a scope a write touched, due now or, for a
    scheduled article, at its instant; the worker expands it into deliveries (or pings).
    ``revision`` moves when a later change is folded into a pending job: a worker that sent
    an older revision sends again (see worker.py).
    """

    __tablename__ = "websub_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "change", "verify", "deliver", "publish", "purge"
    topic: Mapped[str] = mapped_column(Text)
    topic_key: Mapped[str] = mapped_column(String(64))
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("websub_subscriptions.id", ondelete="CASCADE"))
    callback: Mapped[str | None] = mapped_column(Text)  # verify
    mode: Mapped[str | None] = mapped_column(String(20))  # verify: subscribe or unsubscribe
    secret: Mapped[str | None] = mapped_column(String(200))  # verify
    lease_seconds: Mapped[int | None] = mapped_column(Integer)  # verify
    scope_kind: Mapped[str | None] = mapped_column(String(20))  # change: the scope it touched
    scope_slug: Mapped[str | None] = mapped_column(String(MAX_SLUG))  # change
    callback_host: Mapped[str | None] = mapped_column(String(300))  # verify, deliver, purge: host[:port]
    purge_keys: Mapped[str | None] = mapped_column(Text)  # purge: surrogate keys, space-separated
    revision: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    due: Mapped[dt.datetime]
    created: Mapped[dt.datetime]
    last_error: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        Index("ix_websub_jobs_due", "due", "id"),
        Index("ix_websub_jobs_topic", "topic_key", "kind"),
        Index("ix_websub_jobs_subscription", "subscription_id"),
        Index("ix_websub_jobs_callback_host", "callback_host", "kind"),
        Index("ix_websub_jobs_scope", "scope_kind", "scope_slug", "kind"),
    )
