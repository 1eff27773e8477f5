"""WordPress exports (WXR 1.2) as WordPress's Tools → Export writes them, for tests and bench.

``archive()`` builds a newsroom's site — posts in English and Bengali by several authors,
categories and tags in both languages (some with HTML entities, as WordPress stores "&amp;"),
featured images whose attachments come before or after their post, scheduled posts, drafts,
pending, private, trashed and password-protected posts, pages, revisions, menu items, shortcodes
and "]]>" inside CDATA — with each post's expected reading (``Post.shown_title``, ``guid``,
``published`` …) written beside it, so a test compares what feedsvc publishes with what the
WordPress feed showed. ``write()`` streams any such site to a file, however many posts.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote

import phpserialize

SITE = "https://old.news.example"
DHAKA = dt.timezone(dt.timedelta(hours=6))  # the site's zone: Asia/Dhaka has no DST
ZERO = "0000-00-00 00:00:00"


@dataclass
class Author:
    login: str
    display_name: str  # as stored: entities and all
    shown: str  # as WordPress's feed shows it
    email: str = ""


@dataclass
class Attachment:
    id: int
    url: str
    alt: str = ""
    caption: str = ""
    width: int = 1200
    height: int = 675
    # _wp_attachment_metadata whose file names a search-and-replace changed ("photo-" to
    # "picture-"), leaving PHP's string lengths as they were
    broken: bool = False

    @property
    def sizes(self) -> dict[str, dict[str, object]]:
        """The sizes WordPress made of the image, as its metadata lists them (a Bengali file
        name for one of them: WordPress keeps the letters of an uploaded file's name)."""
        stem = self.url.rsplit("/", 1)[1].removesuffix(".jpg")
        medium = f"ছবি-{self.id}-300x169.jpg" if self.id % 5 == 2 else f"{stem}-300x169.jpg"
        return {"thumbnail": {"file": f"{stem}-150x150.jpg", "width": 150, "height": 150,
                              "mime-type": "image/jpeg"},
                "medium": {"file": medium, "width": 300, "height": 169, "mime-type": "image/jpeg"},
                "large": {"file": f"{stem}-1024x576.jpg", "width": 1024, "height": 576,
                          "mime-type": "image/jpeg", "filesize": 81234},
                "webp": {"file": f"{stem}-1024x576.webp", "width": 1024, "height": 576,
                         "mime-type": "image/webp"}}

    @property
    def renditions(self) -> list[dict[str, object]]:
        """The renditions feedsvc should give the lead image: each size's file beside the image."""
        folder = self.url.rsplit("/", 1)[0]

        def file(size: dict[str, object]) -> str:
            name = str(size["file"])
            return name.replace("photo-", "picture-") if self.broken else name

        return [{"url": f"{folder}/{quote(file(size))}", "type": size["mime-type"],
                 "width": size["width"], "height": size["height"], "length": size.get("filesize")}
                for size in self.sizes.values()]


@dataclass
class Post:
    id: int
    title: str  # as stored in wp_posts: entities and all
    shown_title: str  # as the WordPress feed's reader shows it
    slug: str  # post_name: a non-ASCII one percent-encoded, as WordPress stores it
    login: str
    published: dt.datetime  # aware UTC
    status: str = "publish"
    post_type: str = "post"
    modified: dt.datetime | None = None
    gmt_known: bool = True  # False: post_date_gmt is 0000-00-00 00:00:00
    categories: list[tuple[str, str, str]] = field(default_factory=list)  # nicename, stored, shown
    tags: list[tuple[str, str, str]] = field(default_factory=list)
    content: str = ""
    excerpt: str = ""
    thumbnail: Attachment | None = None
    password: str = ""
    # The primary category as Yoast SEO or Rank Math stores it: (meta key, the category's term id).
    primary: tuple[str, int] | None = None
    cdata_title: bool = True  # WordPress 5.x+ writes titles in CDATA, older ones escaped

    @property
    def guid(self) -> str:
        return f"{SITE}/?p={self.id}"

    @property
    def link(self) -> str:
        if self.status == "future":  # no pretty permalink before publication
            return self.guid
        return f"{SITE}/{self.published:%Y/%m/%d}/{self.slug}/"

    @property
    def section(self) -> str:
        """The section WordPress's SEO plugin shows: the primary category when the post has it,
        else the first."""
        if self.primary is not None:
            slug = CATEGORIES[self.primary[1] - 1][0] if 1 <= self.primary[1] <= len(CATEGORIES) else None
            named = [shown for nicename, _, shown in self.categories if nicename == slug]
            if named:
                return named[0]
        return self.categories[0][2]

    @property
    def other_categories(self) -> list[str]:
        """The post's categories but its section: its topics, after its tags."""
        section = self.section
        return [shown for _, _, shown in self.categories if shown != section]

    @property
    def imported(self) -> bool:
        """Whether feedsvc should import it: a published or scheduled post, no password."""
        return (self.post_type == "post" and self.status in ("publish", "future")
                and not self.password)


@dataclass
class Site:
    title: str = "Old News &amp; Views"
    language: str = "bn-BD"
    authors: list[Author] = field(default_factory=list)
    items: list[Post | Attachment] = field(default_factory=list)

    @property
    def posts(self) -> list[Post]:
        return [i for i in self.items if isinstance(i, Post)]


AUTHORS = [
    Author("admin", "Site Desk", "Site Desk", "admin@old.news.example"),
    Author("rahim", "Rahim Uddin", "Rahim Uddin", "rahim@old.news.example"),
    Author("ayesha", "আয়েশা রহমান", "আয়েশা রহমান", "ayesha@old.news.example"),
    Author("jo", "Jo &amp; Co", "Jo & Co", "jo@old.news.example"),
    Author("ghost", "", "ghost"),  # no display name: WordPress shows the login
]
CATEGORIES = [("world", "World", "World"), ("sport", "Sport", "Sport"),
              ("news-views", "News &amp; Views", "News & Views"),
              (quote("বাংলাদেশ").lower(), "বাংলাদেশ", "বাংলাদেশ"),
              (quote("খেলা").lower(), "খেলা", "খেলা"), ("uncategorized", "Uncategorized", "Uncategorized")]
TAGS = [("cricket", "Cricket", "Cricket"), ("q-a", "Q&amp;A", "Q&A"),
        ("rock-roll", "Rock &amp; Roll", "Rock & Roll"), ("floods", "Floods", "Floods"),
        (quote("বিশ্বকাপ").lower(), "বিশ্বকাপ", "বিশ্বকাপ"), (quote("নির্বাচন").lower(), "নির্বাচন", "নির্বাচন"),
        ("its", "It&#8217;s news", "It’s news"), ("budget", "Budget", "Budget")]
# Titles: (stored, shown); "{n}" is the post's number.
TITLES = [
    ("Flood waters rise in Sylhet, day {n}", "Flood waters rise in Sylhet, day {n}"),
    ("Tigers &amp; Lions: match {n} report", "Tigers & Lions: match {n} report"),
    ("Minister&#8217;s budget speech {n}", "Minister’s budget speech {n}"),
    ("&#8220;We will win&#8221; &#8212; captain {n}", "“We will win” — captain {n}"),
    ("বন্যায় ডুবেছে সিলেট {n}", "বন্যায় ডুবেছে সিলেট {n}"),
    ("বিশ্বকাপে বাংলাদেশ &amp; ভারত {n}", "বিশ্বকাপে বাংলাদেশ & ভারত {n}"),
    ("Prices&nbsp;up 5% in {n} markets", "Prices up 5% in {n} markets"),
    ("a &lt; b: the maths of {n}", "a < b: the maths of {n}"),
]
BODIES = [
    "Paragraph one about the story.\n\nParagraph two, with a [gallery ids=\"12,13\"] in it.",
    "<p>Opening&nbsp;line &mdash; with entities.</p>\n"
    "[caption id=\"attachment_9\" align=\"alignnone\" width=\"300\"]"
    "<img src=\"https://old.news.example/wp-content/uploads/a.jpg\" alt=\"x\" /> A caption[/caption]",
    "<!-- wp:paragraph -->\n<p>Block editor text, code: <code>if a]]>b</code></p>\n<!-- /wp:paragraph -->",
    "<p>বাংলা লেখা, অনুচ্ছেদ এক।</p><p>[embed]https://www.youtube.com/watch?v=abc[/embed]</p>",
]
START = dt.datetime(2020, 1, 1, 6, 0, tzinfo=dt.UTC)


def archive(count: int = 300, *, seed: int = 18,
            now: dt.datetime = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)) -> Site:
    """A site of about ``count`` posts of every kind, the same on every run (see the module)."""
    rng = random.Random(seed)
    site = Site(authors=AUTHORS)
    next_id = 10
    step = (now - dt.timedelta(days=2) - START) / count
    statuses = (["publish"] * 40 + ["future"] * 3 + ["draft"] * 3 + ["pending", "private", "trash",
                                                                       "auto-draft"])
    for n in range(count):
        status = rng.choice(statuses)
        published = (START + step * n).replace(microsecond=0)
        if status == "future":
            published = now + dt.timedelta(days=1 + n % 5, hours=n % 7)
        stored, shown = rng.choice(TITLES)
        post_id, next_id = next_id, next_id + 3
        image = Attachment(post_id + 1, f"{SITE}/wp-content/uploads/{published:%Y/%m}/photo-{post_id}.jpg",
                           alt=f"Photo &amp; alt {post_id}", caption=f"<em>Caption</em> {post_id}",
                           broken=n % 10 == 4)
        # WordPress's sanitize_title(): ASCII kept, other letters percent-encoded, lower case.
        words = re.sub(r"[^\w]+", "-", shown.format(n=n).lower()).strip("-")
        slug = f"{words}-{post_id}" if words.isascii() else quote(f"{words}-{post_id}").lower()
        tags = rng.sample(TAGS, rng.randint(0, 4))
        categories = rng.sample(CATEGORIES, rng.randint(1, 2))
        post = Post(post_id, stored.format(n=n), shown.format(n=n), slug,
                    rng.choice(AUTHORS).login, published, status=status,
                    modified=published + dt.timedelta(hours=rng.randint(0, 48)),
                    categories=categories, tags=tags, content=rng.choice(BODIES),
                    excerpt=rng.choice(["", "A <b>short</b> standfirst &amp; more."]),
                    thumbnail=image if n % 3 else None, cdata_title=n % 2 == 0)
        # Primary categories: Yoast's and Rank Math's naming the post's second category, and a
        # Yoast one naming a category the post no longer has (the plugins then take the first).
        if len(categories) > 1 and n % 5 in (1, 3):
            plugin = "_yoast_wpseo_primary_category" if n % 5 == 1 else "rank_math_primary_category"
            post.primary = (plugin, CATEGORIES.index(categories[1]) + 1)
        elif n % 5 == 4:
            missing = next(c for c in CATEGORIES if c not in categories)
            post.primary = ("_yoast_wpseo_primary_category", CATEGORIES.index(missing) + 1)
        if status in ("draft", "auto-draft", "pending"):
            post.gmt_known = False  # WordPress leaves post_date_gmt unset until publication
        if n == 7:  # a published post that another importer left without its GMT date
            post.status, post.gmt_known = "publish", False
        if n == 11:
            post.status, post.password = "publish", "secret"
        before = n % 2 == 0  # half the attachments come before their post, half after
        if post.thumbnail and before:
            site.items.append(post.thumbnail)
        site.items.append(post)
        if post.thumbnail and not before:
            site.items.append(post.thumbnail)
        if n % 25 == 0:  # a revision of the post, a page and a menu item
            site.items.append(Post(next_id, post.title, post.shown_title, f"{post_id}-revision-v1",
                                   post.login, published, status="inherit", post_type="revision"))
            site.items.append(Post(next_id + 1, "About us", "About us", f"about-{n}", "admin",
                                   published, post_type="page"))
            site.items.append(Post(next_id + 2, "Home", "Home", f"home-{n}", "admin", published,
                                   post_type="nav_menu_item"))
            next_id += 3
    return site


def write(path: Path, site: Site) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for chunk in render(site, site.items):
            out.write(chunk)
    return path


def document(site: Site) -> str:
    return "".join(render(site, site.items))


def cdata(text: str) -> str:
    """WordPress's wxr_cdata(): CDATA, with each "]]>" split across two sections."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(site: Site, items: Iterable[Post | Attachment]) -> Iterator[str]:
    yield f"""<?xml version="1.0" encoding="UTF-8" ?>
<!-- This is a WordPress eXtended RSS file generated by WordPress as an export of your site. -->
<!-- It contains information about your site's posts, pages, comments, categories, and other content. -->
<!-- You may use this file to transfer that content from one site to another. -->
<!-- This file is not intended to serve as a complete backup of your site. -->

<!-- To import this information into a WordPress site follow these steps: -->
<!-- 1. Log in to that site as an administrator. -->
<!-- 2. Go to Tools: Import in the WordPress admin panel. -->
<!-- 3. Install the "WordPress" importer from the list. -->
<!-- 4. Activate & Run Importer. -->
<!-- 5. Upload this file using the form provided on that page. -->
<!-- 6. You will first be asked to map the authors in this export file to users -->
<!--    on the site. For each author, you may choose to map to an -->
<!--    existing user on the site or to create a new user. -->
<!-- 7. WordPress will then import each of the posts, pages, comments, categories, etc. -->
<!--    contained in this file into your site. -->

<!-- generator="WordPress/6.4.2" created="2026-11-01 12:00" -->
<rss version="2.0"
	xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:wfw="http://wellformedweb.org/CommentAPI/"
	xmlns:dc="http://purl.org/dc/elements/1.1/"
	xmlns:wp="http://wordpress.org/export/1.2/"
>

<channel>
	<title>{site.title}</title>
	<link>{SITE}</link>
	<description>News from the old site</description>
	<pubDate>Sun, 01 Nov 2026 12:00:00 +0000</pubDate>
	<language>{site.language}</language>
	<wp:wxr_version>1.2</wp:wxr_version>
	<wp:base_site_url>{SITE}</wp:base_site_url>
	<wp:base_blog_url>{SITE}</wp:base_blog_url>
"""
    for i, author in enumerate(site.authors, start=1):
        yield (f"\t<wp:author><wp:author_id>{i}</wp:author_id><wp:author_login>{cdata(author.login)}"
               f"</wp:author_login><wp:author_email>{cdata(author.email)}</wp:author_email>"
               f"<wp:author_display_name>{cdata(author.display_name)}</wp:author_display_name>"
               f"<wp:author_first_name>{cdata('')}</wp:author_first_name>"
               f"<wp:author_last_name>{cdata('')}</wp:author_last_name></wp:author>\n")
    for i, (nicename, stored, _) in enumerate(CATEGORIES, start=1):
        yield (f"\t<wp:category><wp:term_id>{i}</wp:term_id><wp:category_nicename>{cdata(nicename)}"
               f"</wp:category_nicename><wp:category_parent>{cdata('')}</wp:category_parent>"
               f"<wp:cat_name>{cdata(stored)}</wp:cat_name></wp:category>\n")
    for i, (nicename, stored, _) in enumerate(TAGS, start=100):
        yield (f"\t<wp:tag><wp:term_id>{i}</wp:term_id><wp:tag_slug>{cdata(nicename)}</wp:tag_slug>"
               f"<wp:tag_name>{cdata(stored)}</wp:tag_name></wp:tag>\n")
    yield "\n\t<generator>https://wordpress.org/?v=6.4.2</generator>\n\n"
    for item in items:
        yield _attachment(item) if isinstance(item, Attachment) else _post(item)
    yield "\t</channel>\n</rss>\n"


def _local(when: dt.datetime) -> str:
    return when.astimezone(DHAKA).strftime("%Y-%m-%d %H:%M:%S")


def _gmt(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _meta(key: str, value: str) -> str:
    return (f"\t\t<wp:postmeta>\n\t\t\t<wp:meta_key>{cdata(key)}</wp:meta_key>\n"
            f"\t\t\t<wp:meta_value>{cdata(value)}</wp:meta_value>\n\t\t</wp:postmeta>\n")


def _post(post: Post) -> str:
    title = cdata(post.title) if post.cdata_title else escape(post.title)
    modified = post.modified or post.published
    terms = "".join(f'\t\t<category domain="category" nicename="{n}">{cdata(s)}</category>\n'
                    for n, s, _ in post.categories)
    terms += "".join(f'\t\t<category domain="post_tag" nicename="{n}">{cdata(s)}</category>\n'
                     for n, s, _ in post.tags)
    meta = _meta("_edit_last", "1")
    if post.thumbnail:
        meta += _meta("_thumbnail_id", str(post.thumbnail.id))
    if post.primary:
        meta += _meta(*map(str, post.primary))
    comment = ("\t\t<wp:comment>\n\t\t\t<wp:comment_id>1</wp:comment_id>\n"
               f"\t\t\t<wp:comment_author>{cdata('A Reader')}</wp:comment_author>\n"
               f"\t\t\t<wp:comment_content>{cdata('Nice <b>post</b>]]> indeed')}</wp:comment_content>\n"
               "\t\t</wp:comment>\n") if post.id % 4 == 0 else ""
    return f"""
	<item>
		<title>{title}</title>
		<link>{escape(post.link)}</link>
		<pubDate>{post.published:%a, %d %b %Y %H:%M:%S} +0000</pubDate>
		<dc:creator>{cdata(post.login)}</dc:creator>
		<guid isPermaLink="false">{escape(post.guid)}</guid>
		<description></description>
		<content:encoded>{cdata(post.content)}</content:encoded>
		<excerpt:encoded>{cdata(post.excerpt)}</excerpt:encoded>
		<wp:post_id>{post.id}</wp:post_id>
		<wp:post_date>{cdata(_local(post.published))}</wp:post_date>
		<wp:post_date_gmt>{cdata(_gmt(post.published) if post.gmt_known else ZERO)}</wp:post_date_gmt>
		<wp:post_modified>{cdata(_local(modified))}</wp:post_modified>
		<wp:post_modified_gmt>{cdata(_gmt(modified) if post.gmt_known else ZERO)}</wp:post_modified_gmt>
		<wp:comment_status>{cdata('open')}</wp:comment_status>
		<wp:ping_status>{cdata('open')}</wp:ping_status>
		<wp:post_name>{cdata(post.slug)}</wp:post_name>
		<wp:status>{cdata(post.status)}</wp:status>
		<wp:post_parent>0</wp:post_parent>
		<wp:menu_order>0</wp:menu_order>
		<wp:post_type>{cdata(post.post_type)}</wp:post_type>
		<wp:post_password>{cdata(post.password)}</wp:post_password>
		<wp:is_sticky>0</wp:is_sticky>
{terms}{meta}{comment}	</item>
"""


def _attachment(image: Attachment) -> str:
    path = image.url.split("/uploads/", 1)[1]
    metadata = phpserialize.dumps({
        "width": image.width, "height": image.height, "file": path, "filesize": 412345,
        "sizes": image.sizes, "image_meta": {"credit": "Photo: AP", "caption": "", "camera": "",
                                             "orientation": "0", "keywords": []}}).decode()
    if image.broken:  # the old host replaced by a longer one, the lengths left as they were
        metadata = metadata.replace("photo-", "picture-")
    meta = (_meta("_wp_attached_file", path) + _meta("_wp_attachment_metadata", metadata)
            + _meta("_wp_attachment_image_alt", image.alt))
    return f"""
	<item>
		<title>{cdata(f'photo-{image.id}')}</title>
		<link>{SITE}/photo-{image.id}/</link>
		<pubDate>Sat, 18 Jun 2022 20:17:00 +0000</pubDate>
		<dc:creator>{cdata('admin')}</dc:creator>
		<guid isPermaLink="false">{image.url}</guid>
		<description></description>
		<content:encoded>{cdata('')}</content:encoded>
		<excerpt:encoded>{cdata(image.caption)}</excerpt:encoded>
		<wp:post_id>{image.id}</wp:post_id>
		<wp:post_date>{cdata('2022-06-19 02:17:00')}</wp:post_date>
		<wp:post_date_gmt>{cdata('2022-06-18 20:17:00')}</wp:post_date_gmt>
		<wp:post_name>{cdata(f'photo-{image.id}')}</wp:post_name>
		<wp:status>{cdata('inherit')}</wp:status>
		<wp:post_parent>{image.id - 1}</wp:post_parent>
		<wp:post_type>{cdata('attachment')}</wp:post_type>
		<wp:post_password>{cdata('')}</wp:post_password>
		<wp:attachment_url>{cdata(image.url)}</wp:attachment_url>
{meta}	</item>
"""


def write_to(out: IO[str], site: Site, items: Iterable[Post | Attachment]) -> None:
    for chunk in render(site, items):
        out.write(chunk)
