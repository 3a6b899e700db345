"""Entity-tag validation shared by the routes that answer 304 (the static pages and their
assets, public GraphQL answers)."""


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header matches `etag`: a list of tags, or `*`, compared
    weakly as RFC 9110 §13.1.2 asks (`W/"x"` matches `"x"`), since a client sends back
    whichever form it was given."""
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",") if tag.strip()]
    bare = etag.removeprefix("W/")
    return "*" in tags or any(tag.removeprefix("W/") == bare for tag in tags)
