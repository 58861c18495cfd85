"""`aib serve` under a property-based fuzzer (tests/helpers/fuzz.py): valid aib.v1 and KServe v2 requests, changed
field by field and byte by byte by Hypothesis, each answered with a clean status in time by a server that stays
healthy, small, and responsive to a client probing it meanwhile. About 300 cases, the same every run (derandomized),
the requests that hurt the server before among them; `python -m benchmarks.fuzz_server --cases 20000` is the long run."""

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.helpers.fuzz import KNOWN_HOSTILE, METHODS, FuzzServer, Recipe, recipes

UNARY = tuple(name for name, method in METHODS.items() if not method.stream)
STREAMS = tuple(name for name, method in METHODS.items() if method.stream)
MODEL_CALLS = ("ModelInfer", "ModelStreamInfer", "Predict", "StreamFrames")


def short_run(examples: int) -> settings:
    """The same cases every run and no shrinking: a case that broke the server says more than a smaller one
    that may not, and each step would cost a server restart. Nothing is written to .hypothesis/."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.generate,),
        suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example),
        print_blob=False,
    )


@pytest.fixture(scope="module")
def fuzz(demo_onnx):
    with FuzzServer(demo_onnx) as server:
        yield server


def assert_clean(fuzz: FuzzServer, recipe: Recipe) -> None:
    verdict = fuzz.run(recipe)
    assert not verdict.problems, str(verdict)


@short_run(110)
@given(recipe=recipes(UNARY, wire_level=False))
def test_requests_with_fields_changed_get_clean_answers(fuzz, recipe):
    assert_clean(fuzz, recipe)


@short_run(100)
@given(recipe=recipes(tuple(METHODS), field_level=False))
def test_requests_with_bytes_changed_get_clean_answers(fuzz, recipe):
    assert_clean(fuzz, recipe)


@short_run(80)
@given(recipe=recipes(STREAMS))
def test_a_bad_request_in_a_stream_gets_its_own_answer_and_the_stream_goes_on(fuzz, recipe):
    assert_clean(fuzz, recipe)


@pytest.mark.parametrize("recipe", KNOWN_HOSTILE.values(), ids=KNOWN_HOSTILE.keys())
def test_requests_that_hurt_the_server_before_get_clean_answers(fuzz, recipe):
    assert_clean(fuzz, recipe)


@short_run(6)
@given(recipe=recipes(MODEL_CALLS, huge_share=100))
def test_huge_requests_are_refused_without_stalling_or_swelling_the_server(fuzz, recipe):
    assert_clean(fuzz, recipe)
