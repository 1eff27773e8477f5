"""Readable slugs for section, topic and author names, and keys derived from titles."""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii

MAX_KEY = 200
KEY_PATTERN = re.compile(f"[A-Za-z0-9._~-]{{1,{MAX_KEY}}}")


def slugify(name: str, max_length: int = 200) -> str:
    """A lower-case slug that keeps letters of every script: "Ukraine war" -> "ukraine-war".

    Letters, marks and digits survive (Bengali vowel signs are marks), so "বাংলাদেশ" stays
    readable; every other run of characters becomes one hyphen. Percent-encoding is left to URLs.
    """
    text = unicodedata.normalize("NFKC", name).casefold()
    out: list[str] = []
    for ch in text:
        if unicodedata.category(ch)[0] in "LMN":
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    slug = "".join(out).strip("-")[:max_length].strip("-")
    return slug or "untitled"


def key_from_title(title: str) -> str:
    """An ASCII key for an article posted without one: "Xi tells Putin…" -> "xi-tells-putin".

    Other scripts are transliterated (anyascii), so "বাংলাদেশে বন্যা" is "bamladese-bnya" and
    "Привет мир" "privet-mir": readable, and two titles give two keys (issue 18; dropping
    what was not ASCII made every Bengali title "article").
    """
    ascii_text = anyascii(unicodedata.normalize("NFC", title))
    key = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:80].strip("-")
    return key or "article"
