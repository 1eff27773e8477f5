"""Feed scopes: the whole site, or one section, topic or author — and the one registry of kinds.

Every place that needs a kind's URL segment, its noun, its label, its model or the link table
that joins it to articles reads ``KINDS``; a new kind is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feedsvc.store.models import Article, ArticleAuthor, ArticleTopic, Author, Section, Topic


@dataclass(frozen=True, order=True)
class Scope:
    """A feed's scope: the whole site (``kind`` None), or one section, topic or author."""

    kind: str | None = None  # a key of KINDS: "sections", "topics", "authors"
    slug: str | None = None


SITE = Scope()


@dataclass(frozen=True)
class ScopeKind:
    """One kind of scope. ``segment`` is ``Scope.kind`` and the URL path segment
    (``/topics/<slug>/feed.atom``); ``noun`` the API's filter (``?topic=``) and the feeds' word."""

    segment: str
    noun: str
    model: Any  # the named table: Section, Topic or Author
    link: Any  # the table joining it to articles, which keeps their dates; None for sections
    link_key: Any  # the column naming the scope: on the link table, or articles.section_id
    phrase: str  # what one scope's feed holds, in a feed's title: "topic {name}"

    @property
    def label(self) -> str:
        """"Topic", as pages and OPML title one."""
        return self.noun.capitalize()

    @property
    def plural_label(self) -> str:
        """"Topics", as pages and OPML head a group."""
        return self.segment.capitalize()


KINDS: dict[str, ScopeKind] = {kind.segment: kind for kind in (
    ScopeKind("sections", "section", Section, None, Article.section_id, "{name}"),
    ScopeKind("topics", "topic", Topic, ArticleTopic, ArticleTopic.topic_id, "topic {name}"),
    ScopeKind("authors", "author", Author, ArticleAuthor, ArticleAuthor.author_id, "articles by {name}"),
)}
KIND_OF_MODEL: dict[Any, str] = {kind.model: kind.segment for kind in KINDS.values()}


def scopes_of(article: Article | None) -> frozenset[Scope]:
    """Every scope whose feeds show (or showed) this article: site, section, topics, authors."""
    if article is None:
        return frozenset()
    found = {SITE, Scope("sections", article.section.slug)}
    found.update(Scope("topics", link.topic.slug) for link in article.topic_links)
    found.update(Scope("authors", link.author.slug) for link in article.author_links)
    return frozenset(found)
