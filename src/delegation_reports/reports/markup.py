"""Jinja filters for print-friendly, safe markup: where long addresses may wrap, and text
placed inside CSS (the running header of printed pages)."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# Break points of an address, an IP or an identifier: after "@", ".", ":", "/", "-" and "_"
# inside a token (never inside a label, nor before a space: "févr. 2026" breaks at its space),
# so a line ends where a reader expects it.
_BREAK_AFTER = re.compile(r"([@.:/_-])(?=\S)")


def breakable(value) -> Markup:
    """``value`` escaped, with ``<wbr>`` after each of its natural break points, in a span
    whose class allows wrapping there (``.addr`` in report.css)."""
    if value is None:
        return Markup("")
    text = str(escape(value))
    # Escaping made entities ("&amp;", "&#39;"): a break is never put inside one, as the
    # characters matched by _BREAK_AFTER do not occur in them.
    return Markup('<span class="addr">{}</span>').format(Markup(_BREAK_AFTER.sub(r"\1<wbr>", text)))


def css_string(value) -> Markup:
    """``value`` as a quoted CSS string in which every character but letters, digits and
    spaces is a hexadecimal escape: nothing from the data can end the string, the rule or the
    ``<style>`` element."""
    out = []
    for char in str(value):
        if char.isascii() and (char.isalnum() or char == " "):
            out.append(char)
        else:
            # The space ends the escape (and is consumed by it): a space that follows stays.
            out.append(f"\\{ord(char):x} ")
    return Markup('"{}"').format(Markup("".join(out)))
