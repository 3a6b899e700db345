"""The operations of the server's own pages, trusted without a manifest.

The staff scanner page (/scanner) ships with the server and sends its operations as text; in
trusted-documents mode (`KIZUNA_TRUSTED_DOCUMENTS=allow-list`) it must keep working without
the operator adding a manifest for it, and it must not become a way around the allow-list.
So the trusted texts are read from the page's own source, the "GraphQL documents" section of
api/static/scanner/api.js: each `const NAME = `…`;` template literal, with `${OTHER}` standing
for an earlier one of the section (as the browser evaluates them). Only texts that start an
operation (`query` or `mutation`) are trusted; the fragments of text they include are not.
"""

import functools
import hashlib
import re
from pathlib import Path

SCANNER_CLIENT = Path(__file__).resolve().parent / "static" / "scanner" / "api.js"
_SECTION = re.compile(r"// -+ GraphQL documents\n(.*?)\n// -+ ", re.S)
_CONSTANT = re.compile(r"^(?:export )?const (\w+) = `([^`]*)`;$", re.M)
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
_OPERATION = re.compile(r"(query|mutation)\b")


class BuiltinOperationsError(Exception):
    """The page's source no longer has the shape this module reads: fix one or the other."""


def operations_of(source: str) -> dict[str, str]:
    """The operations defined in a page client's "GraphQL documents" section, by constant
    name, with their `${…}` parts filled in."""
    section = _SECTION.search(source)
    if section is None:
        raise BuiltinOperationsError("no '// --- GraphQL documents' section found")
    texts: dict[str, str] = {}
    for name, template in _CONSTANT.findall(section.group(1)):
        if "\\" in template:  # an escape the browser would read differently from us
            raise BuiltinOperationsError(f"{name} holds a backslash escape")
        def filled(match: re.Match[str], owner: str = name) -> str:
            part = match.group(1)
            if part not in texts:
                raise BuiltinOperationsError(f"{owner} uses ${{{part}}}, not defined before it")
            return texts[part]

        texts[name] = _PLACEHOLDER.sub(filled, template)
    return {name: text for name, text in texts.items() if _OPERATION.match(text)}


@functools.cache
def builtin_hashes() -> frozenset[str]:
    """The SHA-256 (hex) of every operation text of the server's own pages."""
    operations = operations_of(SCANNER_CLIENT.read_text(encoding="utf-8"))
    return frozenset(hashlib.sha256(text.encode()).hexdigest() for text in operations.values())
