"""Feed scopes: the whole site, or one section, topic or author — and the one registry of kinds.

Every place that needs a kind's URL segment, its noun, its label, its model or the link table
that joins it to articles reads ``KINDS``; a new kind is one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from feedsvc.store.models import Article, ArticleAuthor, ArticleTopic, Author, Section, Topic


@dataclass(frozen=True, order=True)
class Scope:
    """A feed's scope: the whole site (``kind`` None), or one section, topic or author."""

    kind: str | None = None  # a key of KINDS: "sections", "topics", "authors"
    slug: str | None = None

    def key(self) -> tuple[str, str]:
        """(kind, slug) as the tables keep them: the site is ("", "")."""
        return (self.kind or "", self.slug or "")


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


KINDS: Mapping[str, ScopeKind] = MappingProxyType({kind.segment: kind for kind in (
    ScopeKind("sections", "section", Section, None, Article.section_id, "{name}"),
    ScopeKind("topics", "topic", Topic, ArticleTopic, ArticleTopic.topic_id, "topic {name}"),
    ScopeKind("authors", "author", Author, ArticleAuthor, ArticleAuthor.author_id, "articles by {name}"),
)})
KIND_OF_MODEL: Mapping[Any, str] = MappingProxyType({kind.model: kind.segment for kind in KINDS.values()})


def named_of(article: Article) -> list[tuple[ScopeKind, Any]]:
    """The article's section, topics and authors in its own order, each with its kind."""
    found: list[tuple[ScopeKind, Any]] = [(KINDS["sections"], article.section)]
    found += [(KINDS["topics"], link.topic) for link in article.topic_links]
    found += [(KINDS["authors"], link.author) for link in article.author_links]
    return found


def scopes_of(article: Article | None) -> frozenset[Scope]:
    """Every scope whose feeds show (or showed) this article: site, section, topics, authors."""
    if article is None:
        return frozenset()
    return frozenset({SITE} | {Scope(kind.segment, named.slug) for kind, named in named_of(article)})
