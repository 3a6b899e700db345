"""The README is a script: its GraphQL examples, run top to bottom on a fresh server, work as
written, or are refused exactly as their `# → …` annotations say.

Conventions the README explains at the top of "Using the API":
- a comment line `# anyone` or `# as <who>` (ROLES) says who runs the operations below it;
- a quoted `"<…>"` is a value an earlier answer gave (CAPTURES) or the current time (GIVEN);
- `# → CODE, CODE` after an operation's closing brace names the codes its payload's `errors`
  carry on purpose; `# → replayed` marks a repeat that answers `replayed: true`.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auth.accounts import create_admin
from tests.support import GraphQLClient, ManualClock

README = Path(__file__).resolve().parent.parent / "README.md"
# Fewer would mean the extraction lost examples (an empty extraction must not pass).
MIN_OPERATIONS = 60

# Who runs an operation → the placeholder of the bearer token that role sends (None: no header).
ROLES: dict[str, str | None] = {
    "anyone": None,
    "as the administrator": "<administrator's access token>",
    "as Ann (member)": "<Ann's access token>",
    "as Sam (staff, PARIS-01)": "<Sam's access token>",
    "as Mia (store manager)": "<Mia's access token>",
    "as the web shop (API key)": "<web shop's API key>",
}


@dataclass(frozen=True)
class Capture:
    """Where an answer gives a placeholder's value: the operation's top-level `field`, the
    `path` in its answer, and optionally text the operation must contain and who runs it."""

    field: str
    path: tuple[str | int, ...]
    when: str = ""
    by: str | None = None


def _signed_in(email: str, tokens: str) -> tuple[Capture, ...]:
    return (Capture("tokenCreate", (tokens,), when=f'"{email}"'),)


CAPTURES: dict[str, tuple[Capture, ...]] = {
    "<Ann's access token>": (
        *_signed_in("ann@example.com", "accessToken"),
        Capture("tokenRefresh", ("accessToken",), when="<Ann's refresh token>"),
    ),
    "<Ann's refresh token>": (
        *_signed_in("ann@example.com", "refreshToken"),
        Capture("tokenRefresh", ("refreshToken",), when="<Ann's refresh token>"),
    ),
    "<administrator's access token>": _signed_in("admin@example.com", "accessToken"),
    "<Sam's access token>": _signed_in("sam@example.com", "accessToken"),
    "<Mia's access token>": _signed_in("mia@example.com", "accessToken"),
    "<web shop's API key>": (Capture("apiKeyCreate", ("secret",), when='"Web shop"'),),
    "<store id>": (Capture("storeCreate", ("store", "id")),),
    "<Base rule id>": (Capture("earningRuleCreate", ("rule", "id"), when='name: "Base"'),),
    "<Gold tier id>": (Capture("tierCreate", ("tier", "id"), when='name: "Gold"'),),
    "<LAPSED segment id>": (Capture("segmentCreate", ("segment", "id"), when='"LAPSED"'),),
    "<Ann's referral code>": (Capture("me", ("referralCode",), by="as Ann (member)"),),
    "<survey id>": (Capture("surveyCreate", ("survey", "id")),),
    "<voucher id>": (Capture("voucherIssue", ("voucher", "id")),),
    "<voucher code>": (Capture("voucherIssue", ("voucher", "code")),),
    "<QR payload>": (
        Capture("me", ("vouchers", "edges", 0, "node", "qr", "payload"), by="as Ann (member)"),
    ),
    "<card token>": (Capture("me", ("card", "token"), by="as Ann (member)"),),
    "<reward id>": (Capture("rewardCreate", ("reward", "id")),),
    "<reward voucher id>": (Capture("rewardRedeem", ("voucher", "id")),),
}

# Placeholders the reader writes themselves.
GIVEN: dict[str, Callable[[ManualClock], str]] = {
    "<now>": lambda clock: clock.now.isoformat().replace("+00:00", "Z"),
    "<today>": lambda clock: clock.now.date().isoformat(),
}

_PLACEHOLDER = re.compile(r'"(<[^"\n]*>)"')
_ANNOTATION = re.compile(r"^→\s*(replayed\b|[A-Z][A-Z_]*(?:\s*,\s*[A-Z][A-Z_]*)*)")
_OPERATION_START = re.compile(r"(query|mutation)\b[^{}#\"]*\{|\{")


class ReadmeError(AssertionError):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"README.md line {line}: {problem}")


@dataclass
class Operation:
    line: int
    end_line: int
    kind: str
    text: str
    """The operation as written, without its comments."""
    role: str
    expected: tuple[str, ...] = ()
    replayed: bool = False


def graphql_blocks(readme: str) -> list[tuple[int, str]]:
    """Each ```graphql block's body with the README line number of its first line."""
    blocks = []
    for match in re.finditer(r"^```graphql\n(.*?)^```$", readme, re.M | re.S):
        blocks.append((readme.count("\n", 0, match.start(1)) + 1, match.group(1)))
    return blocks


class _Scanner:
    """Splits a block into operations; comments outside strings are not part of them."""

    def __init__(self, text: str, first_line: int) -> None:
        self.text, self.pos, self.line = text, 0, first_line
        self.role: str | None = None
        self.operations: list[Operation] = []

    def scan(self) -> list[Operation]:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\n":
                self.line += 1
                self.pos += 1
            elif char in " \t\r,":
                self.pos += 1
            elif char == "#":
                self._top_level_comment(self._comment())
            else:
                self._operation()
        return self.operations

    def _comment(self) -> str:
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        comment = self.text[self.pos + 1:end].strip()
        self.pos = end
        return comment

    def _top_level_comment(self, comment: str) -> None:
        if comment.startswith("→"):
            last = self.operations[-1] if self.operations else None
            if last is None or last.end_line != self.line:
                raise ReadmeError(self.line, "an annotation must follow an operation's "
                                  "closing brace on the same line")
            self._annotate(last, comment)
        elif comment.startswith(("as ", "anyone")):
            role = comment.split(":", 1)[0].strip()
            if role not in ROLES:
                raise ReadmeError(self.line, f"unknown role {role!r}; known: {sorted(ROLES)}")
            self.role = role

    def _annotate(self, operation: Operation, comment: str) -> None:
        match = _ANNOTATION.match(comment)
        if match is None:
            raise ReadmeError(self.line, f"cannot read the annotation {comment!r}")
        if match.group(1) == "replayed":
            operation.replayed = True
        else:
            operation.expected = tuple(code.strip() for code in match.group(1).split(","))

    def _operation(self) -> None:
        start_line = self.line
        match = _OPERATION_START.match(self.text, self.pos)
        if match is None:
            snippet = self.text[self.pos:self.pos + 30].split("\n")[0]
            raise ReadmeError(self.line, f"expected an operation, found {snippet!r}")
        if self.role is None:
            raise ReadmeError(self.line, "no role comment (`# anyone`, `# as …`) before it")
        kind = match.group(1) or "query"
        pieces = [self.text[self.pos:match.end()]]
        self.pos, depth = match.end(), 1
        while depth:
            if self.pos >= len(self.text):
                raise ReadmeError(start_line, "the operation's braces never close")
            char = self.text[self.pos]
            if char == "#":
                self._comment()
                continue
            if char == '"':
                pieces.append(self._string(start_line))
                continue
            depth += {"{": 1, "}": -1}.get(char, 0)
            self.line += char == "\n"
            pieces.append(char)
            self.pos += 1
        self.operations.append(Operation(start_line, self.line, kind, "".join(pieces), self.role))

    def _string(self, start_line: int) -> str:
        quote = '"""' if self.text.startswith('"""', self.pos) else '"'
        index = self.pos + len(quote)
        while True:
            if index >= len(self.text) or (quote == '"' and self.text[index] == "\n"):
                raise ReadmeError(start_line, "a string never ends")
            if self.text[index] == "\\":
                index += 2
            elif self.text.startswith(quote, index):
                break
            else:
                index += 1
        string = self.text[self.pos:index + len(quote)]
        self.line += string.count("\n")
        self.pos = index + len(quote)
        return string


def readme_operations(readme: str) -> list[Operation]:
    """Every operation of the README's GraphQL blocks, in order, checked statically: known
    roles, known placeholders, every placeholder captured by an earlier operation."""
    operations = [op for line, body in graphql_blocks(readme)
                  for op in _Scanner(body, line).scan()]
    available = set(GIVEN)
    for op in operations:
        token = ROLES[op.role]
        if token is not None and token not in available:
            raise ReadmeError(op.line, f"{op.role!r} has no token yet: add the sign-in first")
        for placeholder in _PLACEHOLDER.findall(op.text):
            if placeholder not in CAPTURES and placeholder not in GIVEN:
                raise ReadmeError(op.line, f"unknown placeholder {placeholder}")
            if placeholder not in available:
                raise ReadmeError(op.line, f"{placeholder} is used before an answer gives it")
        field = _top_level_field(op)
        for placeholder, captures in CAPTURES.items():
            if any(_applies(capture, op, field) for capture in captures):
                available.add(placeholder)
    return operations


def _top_level_field(op: Operation) -> str:
    match = re.match(r"[^{]*\{\s*(\w+)", op.text)
    if match is None:
        raise ReadmeError(op.line, "no field in the operation")
    return match.group(1)


def _applies(capture: Capture, op: Operation, field: str) -> bool:
    """Whether `op` gives the placeholder: the right field, text and role, not a refusal,
    and the path's fields selected (the reader sees where the value comes from)."""
    selected = all(re.search(rf"\b{step}\b", op.text) for step in capture.path
                   if isinstance(step, str))
    return (capture.field == field and capture.when in op.text and selected
            and capture.by in (None, op.role) and not op.expected)


def _at(answer: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        if isinstance(step, int):
            answer = answer[step] if isinstance(answer, list) and len(answer) > step else None
        else:
            answer = answer.get(step) if isinstance(answer, dict) else None
    return answer


def _admin_from_readme(readme: str) -> tuple[str, str, str]:
    """The email, name and password the README's `kizuna create-admin` step uses."""
    command = re.search(r'kizuna create-admin --email (\S+) --name "([^"]+)"', readme)
    typed = re.search(r"This guide types `([^`]+)` at the prompt", readme)
    assert command is not None and typed is not None, "the README's create-admin step is gone"
    return command.group(1), command.group(2), typed.group(1)


async def run_readme(gql: GraphQLClient, clock: ManualClock, readme: str) -> int:
    operations = readme_operations(readme)
    email, name, password = _admin_from_readme(readme)
    services = gql.state.services
    await create_admin(services.store, services.authenticator.passwords, email=email,
                       password=password, name=name, clock=services.clock)
    values = {placeholder: given(clock) for placeholder, given in GIVEN.items()}
    for op in operations:
        where = f"README.md line {op.line} ({op.role})"
        missing = [p for p in [*_PLACEHOLDER.findall(op.text), ROLES[op.role]]
                   if p is not None and p not in values]
        assert not missing, f"{where}: no earlier answer gave {missing}"
        query = _PLACEHOLDER.sub(lambda match: json.dumps(values[match.group(1)]), op.text)
        token_placeholder = ROLES[op.role]
        token = values[token_placeholder] if token_placeholder else None
        response = await gql.post(query, token=token)
        assert response.status_code == 200, f"{where}: HTTP {response.status_code} {response.text}"
        body = response.json()
        assert "errors" not in body, f"{where}: {body['errors']}"
        field = _top_level_field(op)
        assert list(body["data"]) == [field], f"{where}: give each operation one field"
        payload = body["data"][field]
        _check_outcome(op, payload, where)
        for placeholder, captures in CAPTURES.items():
            for capture in captures:
                value = _at(payload, capture.path) if _applies(capture, op, field) else None
                if value is not None:
                    values[placeholder] = value
    return len(operations)


def _check_outcome(op: Operation, payload: Any, where: str) -> None:
    if op.kind == "mutation":
        assert isinstance(payload, dict) and "errors" in payload, f"{where}: select `errors`"
    if isinstance(payload, dict) and "errors" in payload:
        codes = tuple(error["code"] for error in payload["errors"])
        assert codes == op.expected, f"{where}: expected {op.expected or 'no errors'}, " \
                                     f"got {payload['errors']}"
    elif op.expected:
        raise AssertionError(f"{where}: annotated {op.expected} but selects no `errors`")
    if (isinstance(payload, dict) and "replayed" in payload) or op.replayed:
        replayed = isinstance(payload, dict) and payload.get("replayed")
        assert replayed is op.replayed, f"{where}: replayed should be {op.replayed}: {payload}"


async def test_readme_examples_run_top_to_bottom_on_a_fresh_server(
    gql: GraphQLClient, clock: ManualClock
) -> None:
    ran = await run_readme(gql, clock, README.read_text(encoding="utf-8"))
    assert ran >= MIN_OPERATIONS, f"only {ran} operations found in README.md"


# --- the extraction itself ----------------------------------------------------------------

def _doc(body: str) -> str:
    return f"intro\n\n```graphql\n{body}```\n"


def test_operations_are_split_at_their_matching_brace_and_read_their_annotations() -> None:
    operations = readme_operations(_doc(
        '# anyone\n'
        'mutation { tokenCreate(input: {email: "a}#b", password: "x"}) {\n'
        '  accessToken   # a comment { with a brace\n'
        '  errors { code } } }   # → INVALID_CREDENTIALS, RATE_LIMITED\n'
        '{ programRules { name } }\n'
    ))
    assert [(op.line, op.end_line, op.kind) for op in operations] == [
        (5, 7, "mutation"), (8, 8, "query")]
    assert operations[0].expected == ("INVALID_CREDENTIALS", "RATE_LIMITED")
    assert "comment" not in operations[0].text and '"a}#b"' in operations[0].text


@pytest.mark.parametrize(("body", "problem"), [
    ('# as Zed (nobody)\n{ me { id } }\n', "line 4: unknown role"),
    ("{ programRules { name } }\n", "line 4: no role comment"),
    ('# anyone\nmutation { x(input: {a: "<mystery>"}) { errors { code } } }\n',
     "line 5: unknown placeholder <mystery>"),
    ('# anyone\nmutation { x(input: {a: "<store id>"}) { errors { code } } }\n',
     "line 5: <store id> is used before an answer gives it"),
    ("# as Ann (member)\n{ me { id } }\n", "line 5: 'as Ann (member)' has no token yet"),
    ("# anyone\n{ programRules { name }\n", "line 5: the operation's braces never close"),
    ("# anyone\n{ me { id } } …same as above…\n", "line 5: expected an operation"),
    ("# anyone\n{ me { id } }\n# → REPLAYED\n", "line 6: an annotation must follow"),
])
def test_a_readme_the_script_cannot_follow_fails_naming_the_line(body: str, problem: str) -> None:
    with pytest.raises(ReadmeError, match=re.escape(problem)):
        readme_operations(_doc(body))
