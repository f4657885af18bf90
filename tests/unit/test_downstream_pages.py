"""The downstream lists' pages: two lists (the store's, the config file's) merged by name with
each one's own order kept, a name in both listed once; a cursor that reads back where the
page stopped and refuses anything else in words; an app's names found by the 29 characters
its index (migration 0034) is made of; a search's LIKE pattern taking `_` and `%` as
themselves."""

from __future__ import annotations

import pytest

from receiver.downstreams.listing import Position, checked_limit, cursor_of, position_of
from receiver.downstreams.rows import Wanted
from receiver.downstreams.rules import merged
from receiver.kernel.errors import InvalidRequest
from receiver.outbox.rules.delivery import owned_name


def test_two_lists_merge_by_name_keeping_each_ones_order() -> None:
    assert merged(["b", "d"], ["a", "c", "e"], 10) == (["a", "b", "c", "d", "e"], False)
    assert merged(["b", "d"], ["a", "c", "e"], 3) == (["a", "b", "c"], True)
    assert merged(["b", "d"], [], 2) == (["b", "d"], False)
    assert merged(["b", "d", "f"], [], 2) == (["b", "d"], True)  # the one read past a page
    assert merged([], [], 5) == ([], False)
    # A name in both is listed once.
    assert merged(["a", "b"], ["b", "c"], 10) == (["a", "b", "c"], False)
    # Each list's own order stands, even where the other would sort otherwise.
    assert merged(["B", "a"], ["A"], 3) == (["A", "B", "a"], False)


def test_a_cursor_reads_back_where_the_page_stopped() -> None:
    at = Position("app_0123456789abcdef01234567.hooks", "cfg-9")
    made = cursor_of(at)
    assert position_of(made) == at
    assert "hooks" not in made and "=" not in made  # opaque, and safe in a query string
    assert position_of(None) == Position() == position_of("")


@pytest.mark.parametrize(
    "wrong", ["nonsense!", "e30", "WyJhIl0", "WyJhIiwxXQ", "A" * 600, "W" * 5, "%%%"]
)
def test_anything_but_a_cursor_is_refused_in_words(wrong: str) -> None:
    with pytest.raises(InvalidRequest, match="cursor: not a cursor of this list"):
        position_of(wrong)


def test_a_limit_is_from_1_to_100() -> None:
    assert checked_limit(1) == 1 and checked_limit(100) == 100
    for wrong in (0, -3, 101):
        with pytest.raises(InvalidRequest, match=f"limit: from 1 to 100; {wrong} given"):
            checked_limit(wrong)


def test_an_apps_names_begin_with_the_29_characters_its_index_holds() -> None:
    prefix = owned_name("app_" + "0" * 24, "")
    assert len(prefix) == 29 and owned_name("key_" + "f" * 24, "x")[:29].endswith(".")


def test_a_search_takes_like_wildcards_as_themselves() -> None:
    assert Wanted(None, "", 10, "Hook_1%").pattern() == "%hook\\_1\\%%"
    assert Wanted(None, "", 10).pattern() == "%%"
