"""What a page's HTML holds that its Content-Security-Policy cares about (the scanner's
and GraphiQL's page tests)."""

from html.parser import HTMLParser


class PageParser(HTMLParser):
    """Collects what matters for the CSP: scripts, styles, inline handlers, test ids."""

    def __init__(self) -> None:
        super().__init__()
        self.script_sources: list[str] = []
        self.stylesheets: list[str] = []
        self.inline_script = False
        self.inline_style = False
        self.event_handlers: list[str] = []
        self.test_ids: set[str] = set()
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.event_handlers += [name for name, _ in attrs if name.startswith("on")]
        self.inline_style |= "style" in attributes or tag == "style"
        if attributes.get("data-testid"):
            self.test_ids.add(attributes["data-testid"] or "")
        if tag == "script":
            self._in_script = True
            if attributes.get("src"):
                self.script_sources.append(attributes["src"] or "")
            else:
                self.inline_script = True
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True


def parse_page(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser
