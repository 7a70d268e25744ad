"""nbconvert's last pass over a page, the same bytes at a fraction of its cost.

``HTMLExporter`` ends every conversion by parsing the page with BeautifulSoup (the
``html.parser`` builder), giving images without ``alt`` a text and JupyterLab's cells a
``tabindex``, and writing the tree out again: whitespace-only text collapsed to one newline or
space, attributes sorted, entities normalised, void elements closed with ``/``. Building and
writing that tree is most of the time a report's conversion takes (about 0.1 s of CPU for a
monthly report, against 5 ms for the rest of it).

``reserialized`` gives the same text without building the tree: BeautifulSoup's own
``html.parser`` driver (``BeautifulSoupHTMLParser``: the tokens, attributes and character
references exactly as BeautifulSoup reads them) feeds a writer that puts out each tag and
string as ``Tag.decode`` would, with BeautifulSoup's own formatter and attribute rules. It
covers well-formed markup in which the pass finds nothing to change; anything else (a
comment, a declaration, a ``<meta>`` whose charset the writer substitutes, an end tag that
does not close the last open tag, a tag left open, an ``img``, a class the pass looks for)
returns None, and the caller runs the real pass.
"""

from __future__ import annotations

import copy
from functools import cache

from bs4 import BeautifulSoup
from bs4.builder import HTMLParserTreeBuilder
from bs4.builder._htmlparser import BeautifulSoupHTMLParser
from bs4.exceptions import ParserRejectedMarkup
from bs4.formatter import HTMLFormatter
from nbconvert import HTMLExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

# What nbconvert's pass changes (`HTMLExporter.from_notebook_node`): images without `alt`, and
# JupyterLab's notebook, input and output classes. Class names are compared case-insensitively
# (CSS selectors match them so in quirks mode).
_CHANGED_TAGS = frozenset({"img"})
_CHANGED_CLASSES = frozenset({"jp-notebook", "jp-cell-inputwrapper", "jp-outputarea-output"})
# Tags whose attributes BeautifulSoup rewrites when it writes them (a charset).
_SUBSTITUTED_TAGS = frozenset({"meta"})


class _Unsupported(Exception):
    """Markup the streaming writer does not reproduce: the real pass runs instead."""


class _OpenTag:
    """What BeautifulSoup's parser driver looks at in the tag it is given back."""

    __slots__ = ("name", "attrs", "is_empty_element")

    def __init__(self, name: str, attrs: dict, is_empty_element: bool) -> None:
        self.name = name
        self.attrs = attrs
        self.is_empty_element = is_empty_element


@cache
def _builder() -> HTMLParserTreeBuilder:
    """The builder ``BeautifulSoup(html, features="html.parser")`` uses: its void, whitespace
    preserving and multi-valued attribute rules, and its parser's arguments."""
    return HTMLParserTreeBuilder()


class _Writer:
    """Stands for the ``BeautifulSoup`` object the parser driver feeds, and writes out what
    the tree would hold as it comes."""

    ROOT = "[document]"

    def __init__(self) -> None:
        self.builder = _builder()
        self.formatter = HTMLFormatter.REGISTRY["minimal"]
        self.out: list[str] = []
        self.stack: list[_OpenTag] = []
        self.data: list[str] = []
        self.preserving = 0  # open tags that keep whitespace (pre, textarea)
        self.contains_replacement_characters = False

    # ---- what BeautifulSoupHTMLParser calls --------------------------------------------

    def handle_starttag(self, name, namespace, nsprefix, attrs, sourceline=None, sourcepos=None):
        self.endData()
        if name in _CHANGED_TAGS or name in _SUBSTITUTED_TAGS or namespace or nsprefix:
            raise _Unsupported(name)
        attrs = self.builder._replace_cdata_list_attribute_values(name, attrs)
        classes = attrs.get("class")
        if classes and any(c.lower() in _CHANGED_CLASSES for c in classes):
            raise _Unsupported(name)
        tag = _OpenTag(name, attrs, self.builder.can_be_empty_element(name))
        if not tag.is_empty_element:
            self.out.append(self._opening(tag))
        self.stack.append(tag)
        if name in self.builder.preserve_whitespace_tags:
            self.preserving += 1
        return tag

    def handle_endtag(self, name, nsprefix=None):
        self.endData()
        if not self.stack or self.stack[-1].name != name:
            raise _Unsupported(f"</{name}>")
        tag = self.stack.pop()
        if name in self.builder.preserve_whitespace_tags:
            self.preserving -= 1
        if tag.is_empty_element:
            # Nothing can have come in between: the driver closes a void element at once.
            self.out.append(self._opening(tag, void=True))
        else:
            self.out.append(f"</{name}>")

    def handle_data(self, data: str) -> None:
        self.data.append(data)

    def endData(self, containerClass=None) -> None:  # noqa: N802, N803 - BeautifulSoup's names
        if containerClass is not None:
            raise _Unsupported(containerClass.__name__)  # a comment, declaration, CDATA...
        if not self.data:
            return
        text = "".join(self.data)
        self.data = []
        if not self.preserving and not text.strip(BeautifulSoup.ASCII_SPACES):
            text = "\n" if "\n" in text else " "
        parent = self.stack[-1].name if self.stack else self.ROOT
        if parent in self.formatter.cdata_containing_tags:
            self.out.append(text)
        else:
            self.out.append(self.formatter.substitute(text))

    # ---- writing ------------------------------------------------------------------------

    def _opening(self, tag: _OpenTag, void: bool = False) -> str:
        """``Tag._format_tag`` of an opening tag, with the minimal formatter."""
        parts = []
        for key, value in self.formatter.attributes(tag):
            if value is None:
                parts.append(key)
                continue
            if isinstance(value, list | tuple):
                value = " ".join(value)
            text = self.formatter.attribute_value(value)
            parts.append(f"{key}={self.formatter.quoted_attribute_value(text)}")
        attributes = " " + " ".join(parts) if parts else ""
        slash = (self.formatter.void_element_close_prefix or "") if void else ""
        return f"<{tag.name}{attributes}{slash}>"


def reserialized(html: str) -> str | None:
    """``str(BeautifulSoup(html, features="html.parser"))`` when nbconvert's pass would change
    nothing else in ``html``; None when the markup is not one the streaming writer covers."""
    writer = _Writer()
    args, kwargs = writer.builder.parser_args
    parser = BeautifulSoupHTMLParser(writer, *args, **kwargs)
    try:
        parser.feed(html)
        parser.close()
        writer.endData()
    except (_Unsupported, AssertionError, ParserRejectedMarkup):
        # Not covered, or markup html.parser rejects: the real pass decides what it gives.
        return None
    if writer.stack:
        return None  # BeautifulSoup closes what is left open: not reproduced here
    return "".join(writer.out)


class ReportExporter(HTMLExporter):
    """nbconvert's ``HTMLExporter``, its last pass streamed (``reserialized``) when the page
    allows it, run as nbconvert runs it otherwise: the same page either way."""

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter.from_notebook_node up to its BeautifulSoup pass.
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
        )
        own = self._init_resources(copy.deepcopy(resources))
        filter_data_type = WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=own
        )
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        html, own = TemplateExporter.from_notebook_node(self, nb, own, **kw)
        page = reserialized(html)
        if page is None:
            return super().from_notebook_node(nb, resources, **kw)
        return page, own
