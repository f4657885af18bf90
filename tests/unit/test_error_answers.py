"""Each error class answers with one status, chosen at the edge along its ancestry."""

from __future__ import annotations

from receiver.kernel import errors
from receiver.kernel.http.errors import answer_for


def test_each_error_has_its_status_and_code() -> None:
    cases = {
        errors.MalformedRequest: (400, "bad_request"),
        errors.ParseError: (400, "bad_request"),
        errors.NotAuthenticated: (401, "unauthorized"),
        errors.NotAllowed: (403, "forbidden"),
        errors.NotFound: (404, "not_found"),
        errors.BodyTooSlow: (408, "request_timeout"),
        errors.Conflict: (409, "conflict"),
        errors.BodyTooLarge: (413, "too_large"),
        errors.InvalidRequest: (422, "invalid_request"),
        errors.UpstreamError: (502, "upstream_error"),
        errors.UpstreamTimeout: (504, "upstream_error"),
        errors.StoreError: (503, "unavailable"),
        errors.ConfigError: (500, "internal"),
    }
    for kind, answer in cases.items():
        assert answer_for(kind("why")) == answer, kind


def test_an_error_the_table_does_not_name_answers_as_its_nearest_ancestor() -> None:
    class TokenExpired(errors.NotAllowed):
        pass

    assert answer_for(TokenExpired("old")) == (403, "forbidden")
    assert answer_for(errors.RelayError("?")) == (500, "internal")
