"""Leaderboard display names: look-alike letters, e-mail shapes, the member's own name in
another order, and real names that merely contain an offensive word."""

import pytest

from loyalty.play.leaderboard_names import (
    DisplayNameNotAllowed,
    check_display_name,
    name_key,
    parse_blocklist,
)
from tests.leaderboard_support import board_shop, join, joined
from tests.support import GraphQLClient


def _refusal(name: str, *, own: tuple[str, ...] = ()) -> str | None:
    try:
        check_display_name(name, blocklist=parse_blocklist(None), own=own)
    except DisplayNameNotAllowed as error:
        return str(error)
    return None


@pytest.mark.parametrize("name", ["аdmin", "Аdmin Team", "ѕupport", "suppοrt", "Ѕtaff", "Аnn"])
def test_latin_mixed_with_cyrillic_or_greek_is_refused(name: str) -> None:
    assert "one alphabet" in (_refusal(name) or ""), name


@pytest.mark.parametrize("name", ["Аня Петрова", "Σοφία", "たろう太郎", "Ken 健", "Zoë 42"])
def test_names_in_one_script_pass(name: str) -> None:
    assert _refusal(name) is None, name


def test_look_alike_letters_fold_into_blocked_words_and_the_key() -> None:
    for name in ("adrnin", "ADRNIN 7", "vvhore", "\u0455\u043d\u0456\u0442"):  # ѕніт
        assert _refusal(name) is not None, name
    assert name_key("Апп") == name_key("Ann") == "ann"  # all-Cyrillic look-alike of Ann
    assert name_key("Αnn") == "ann"  # Greek capital alpha
    assert name_key("vvolf") == name_key("Wolf")


@pytest.mark.parametrize("name", ["john.smith.gmail", "john smith gmail com", "jane.doe.us",
                                  "jane at gmx dot com", "fox dot com",
                                  "ann_b.hotmail", "kenji yahoo", "bob.outlook.com"])
def test_email_shapes_are_refused(name: str) -> None:
    assert "e-mail" in (_refusal(name) or ""), name


@pytest.mark.parametrize("name", ["Mr.T.Fan", "Polka Dot", "Dot Cotton", "Jane Runner"])
def test_names_that_only_resemble_an_email_shape_pass(name: str) -> None:
    assert _refusal(name) is None, name


def test_words_of_the_members_own_name_in_any_order_are_refused() -> None:
    own = ("John Smith", "jsmith@example.org")
    for name in ("Smith John", "smith.john", "SmithJohn", "JOHN SMITH", "john-smith 7"):
        assert "your name" in (_refusal(name, own=own) or ""), name
    own = ("Maria Jose Garcia Lopez", "mj@example.org")
    assert _refusal("Lopez Maria", own=own) is not None
    assert _refusal("GarciaJose", own=own) is not None
    for name in ("John Runner", "Smith Fan", "Maria 42"):
        assert _refusal(name, own=("John Smith", "Maria Jose Garcia Lopez")) is None, name


@pytest.mark.parametrize("name", ["Yoshitaka", "Toshitaka", "Nazir", "Slutsky", "Dickens",
                                  "Scunthorpe Ann", "Hancock"])
def test_real_names_containing_an_offensive_word_pass(name: str) -> None:
    assert _refusal(name) is None, name


@pytest.mark.parametrize("name", ["shit head", "ShitHead", "Sh1t", "nazi 88", "Big.Slut",
                                  "s.h.i.t", "4dm1n", "Kizuna Fan", "The Moderator",
                                  "adrnin crew"])
def test_offensive_words_as_words_and_staff_words_anywhere_are_refused(name: str) -> None:
    assert "not allowed" in (_refusal(name) or ""), name


async def test_joining_over_http_refuses_look_alikes_and_frees_real_names(
    gql: GraphQLClient,
) -> None:
    await board_shop(gql)
    await joined(gql, "lee@example.com", "Ann", name="Lee Park")
    member = await gql.member(email="john@example.com", name="John Smith")
    for name, code in (("Аnn", "DISPLAY_NAME_NOT_ALLOWED"), ("Апп", "DISPLAY_NAME_TAKEN"),
                       ("ѕupport", "DISPLAY_NAME_NOT_ALLOWED"),
                       ("Smith John", "DISPLAY_NAME_NOT_ALLOWED"),
                       ("john.smith.gmail", "DISPLAY_NAME_NOT_ALLOWED"),
                       ("shit head", "DISPLAY_NAME_NOT_ALLOWED")):
        payload = await join(gql, member, name)
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            (code, ["input", "displayName"])], name
    store = gql.state.services.store
    assert await store.collection("members").count_documents(
        {"leaderboard": {"$exists": True}}) == 1
    payload = await join(gql, member, "Yoshitaka")
    assert payload == {"player": {"displayName": "Yoshitaka"}, "errors": []}
