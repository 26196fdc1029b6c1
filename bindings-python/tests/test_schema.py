"""Walks the engine's schema, as the native module exports it (`circuit._circuit.OPTIONS`,
`METRICS`, `STATES`, `REASONS`, `REJECT_REASONS`, `OUTCOMES`), and proves that the binding, its
type stub and docs/python.md expose all of it: every option is a keyword of `CircuitBreaker(...)`
(at run time and in the stub, with default None and the type of its kind) and a row of the
options table with the schema's default; every metrics field is an attribute of `Metrics`; the
Python spellings are the engine's. An option added to the schema alone makes this fail."""

from __future__ import annotations

import ast
import pathlib
import re
from typing import Any, Dict, List, Optional, Tuple

import pytest

import circuit
from circuit import _circuit

HERE = pathlib.Path(__file__).resolve().parent
STUB = HERE.parent / "python" / "circuit" / "_circuit.pyi"
DOCS = HERE.parents[1] / "docs" / "python.md"

# Keywords of CircuitBreaker(...) that are the binding's own, not engine options.
# The binding's own constructor arguments (not engine options); `state`/`state_now` restore a
# saved state document.
PYTHON_ONLY = ["ignore", "fallback", "timeout", "clock", "region", "state", "state_now", "fleet"]

OPTION_TYPES = {
    "text": "Optional[str]",
    "count": "Optional[int]",
    "number": "Optional[float]",
    "duration": "Optional[float]",
    "seed": "Optional[int]",
}
METRIC_TYPES = {
    "state": "str",
    "count": "int",
    "rate": "float",
    "duration": "float",
    "optional_duration": "Optional[float]",
}
# A value of each kind, and a value of the wrong type for it.
SAMPLES: Dict[str, Tuple[Any, Any]] = {
    "text": ("x", 1),
    "count": (1, "1"),
    "number": (0.5, "0.5"),
    "duration": (1.0, "1s"),
    "seed": (7, 7.0),
}

OPTIONS = _circuit.OPTIONS
OPTION_NAMES = [option[0] for option in OPTIONS]
METRIC_NAMES = [metric[0] for metric in _circuit.METRICS]
# Metrics attributes outside the scalar schema, after its fields in the stub.
NON_SCALAR_METRICS = {"transitions": "List[Tuple[str, str, str, int]]"}


def stub_class(name: str) -> ast.ClassDef:
    tree = ast.parse(STUB.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"{STUB.name} has no class {name}")


def stub_keywords() -> List[Tuple[str, str, Optional[ast.expr]]]:
    """The keyword parameters of `Breaker.__new__` in the stub: (name, annotation, default)."""
    new = next(
        node
        for node in stub_class("Breaker").body
        if isinstance(node, ast.FunctionDef) and node.name == "__new__"
    )
    positional = new.args.args[1:]  # after cls
    defaults: List[Optional[ast.expr]] = [None] * (len(positional) - len(new.args.defaults))
    defaults += new.args.defaults
    pairs = list(zip(positional, defaults)) + list(zip(new.args.kwonlyargs, new.args.kw_defaults))
    return [(arg.arg, ast.unparse(arg.annotation) if arg.annotation else "", default) for arg, default in pairs]


def docs_options_table() -> List[Tuple[str, str]]:
    """(option, default) for each row of the options table of docs/python.md."""
    lines = DOCS.read_text().splitlines()
    start = lines.index("| option | default | meaning |")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        match = re.match(r"`(\w+)`", cells[0])
        assert match, f"options table row without an option name: {line}"
        rows.append((match.group(1), cells[1]))
    return rows


def test_the_schema_is_exported() -> None:
    assert len(OPTIONS) >= 17 and len(_circuit.METRICS) >= 18
    for option in OPTIONS:
        assert len(option) == 5 and all(isinstance(part, str) and part for part in option)
        assert option[1] in OPTION_TYPES, option
    for metric in _circuit.METRICS:
        assert len(metric) == 3 and all(isinstance(part, str) and part for part in metric)
        assert metric[1] in METRIC_TYPES, metric
    assert len(set(OPTION_NAMES)) == len(OPTION_NAMES) and len(set(METRIC_NAMES)) == len(METRIC_NAMES)


# -- options ---------------------------------------------------------------------------------


def test_every_option_is_a_stub_keyword_with_default_none_and_the_type_of_its_kind() -> None:
    keywords = stub_keywords()
    engine = [k for k in keywords if k[0] not in PYTHON_ONLY]
    assert [k[0] for k in engine] == OPTION_NAMES, "Breaker.__new__ in the stub must list the schema's options, in order"
    assert [k[0] for k in keywords if k[0] in PYTHON_ONLY] == PYTHON_ONLY
    for (name, kind, *_), (_, annotation, default) in zip(OPTIONS, engine):
        assert annotation == OPTION_TYPES[kind], f"{name}: stub type {annotation}, schema kind {kind}"
        assert isinstance(default, ast.Constant) and default.value is None, f"{name}: stub default is not None"


@pytest.mark.parametrize("option", OPTIONS, ids=OPTION_NAMES)
def test_every_option_is_a_keyword_converted_by_its_kind(option: Tuple[str, str, str, str, str]) -> None:
    name, kind = option[0], option[1]
    good, wrong = SAMPLES[kind]
    try:
        circuit.CircuitBreaker(**{name: good})
    except circuit.CircuitConfigError as error:  # a valid kind, refused with another option's rule
        assert error.option == name
    with pytest.raises(TypeError) as info:
        circuit.CircuitBreaker(**{name: wrong})
    assert f"`{name}`" in str(info.value)
    circuit.CircuitBreaker(**{name: None})  # None is "not given"


def test_an_unknown_keyword_is_refused_like_python_refuses_it() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'no_such_option'"):
        circuit.CircuitBreaker(no_such_option=1)
    with pytest.raises(TypeError, match="multiple values for argument 'name'"):
        circuit.CircuitBreaker("a", name="b")  # type: ignore[misc]


@pytest.mark.parametrize("kind,value", [("count", -1), ("count", 2**32), ("count", 2**70), ("seed", 2**64)])
def test_out_of_range_integers_name_the_option(kind: str, value: int) -> None:
    name = next(option[0] for option in OPTIONS if option[1] == kind)
    options: Dict[str, Any] = {name: value}
    with pytest.raises(circuit.CircuitConfigError) as info:
        circuit.CircuitBreaker(**options)
    assert info.value.option == name and f"`{name}`" in str(info.value)


def test_every_option_is_in_the_docs_table_with_the_schema_default() -> None:
    rows = docs_options_table()
    documented = dict(rows)
    for name, _, default, _, _ in OPTIONS:
        assert name in documented, f"docs/python.md's options table lacks `{name}`"
        assert documented[name] == default, f"docs/python.md: `{name}` defaults to {default!r} (the schema)"
    assert [name for name, _ in rows if name not in PYTHON_ONLY] == OPTION_NAMES
    assert [name for name, _ in rows if name in PYTHON_ONLY] == PYTHON_ONLY


# -- metrics ---------------------------------------------------------------------------------


def test_every_metrics_field_is_a_stub_property_of_its_kind() -> None:
    properties = [
        (node.name, ast.unparse(node.returns) if node.returns else "")
        for node in stub_class("Metrics").body
        if isinstance(node, ast.FunctionDef) and any(ast.unparse(d) == "property" for d in node.decorator_list)
    ]
    assert [p[0] for p in properties] == METRIC_NAMES + list(NON_SCALAR_METRICS)
    assert dict(properties[len(METRIC_NAMES) :]) == NON_SCALAR_METRICS
    for (name, kind, _), (_, returns) in zip(_circuit.METRICS, properties):
        assert returns == METRIC_TYPES[kind], f"Metrics.{name}: stub type {returns}, schema kind {kind}"


def test_every_metrics_field_is_a_read_only_attribute_of_a_snapshot() -> None:
    clock = circuit.ManualClock()
    breaker = circuit.CircuitBreaker(failure_threshold=1, clock=clock)
    with pytest.raises(RuntimeError):
        breaker.call(lambda: (_ for _ in ()).throw(RuntimeError()))
    snapshot = breaker.metrics()
    python_types: Dict[str, Tuple[type, ...]] = {
        "state": (str,),
        "count": (int,),
        "rate": (float,),
        "duration": (float,),
        "optional_duration": (float, type(None)),
    }
    for name, kind, doc in _circuit.METRICS:
        value = getattr(snapshot, name)
        assert isinstance(value, python_types[kind]) and not isinstance(value, bool), (name, value)
        assert getattr(circuit.Metrics, name).__doc__ == doc
        with pytest.raises(AttributeError):
            setattr(snapshot, name, value)
    assert snapshot.state == "open" and snapshot.failures == 1 and snapshot.retry_after == 30.0
    fields = re.findall(r"(\w+)=", repr(snapshot))
    assert fields == METRIC_NAMES


def test_every_metrics_field_is_in_the_docs() -> None:
    text = DOCS.read_text()
    start = text.index("`breaker.metrics()` returns")
    listed = re.findall(r"\w+", text[start : text.index("\n*", start)])
    for name in METRIC_NAMES:
        assert name in listed, f"docs/python.md does not list the metrics field {name}"


# -- spellings -------------------------------------------------------------------------------


def test_spellings_are_exported_unique_and_snake_case() -> None:
    for spellings in (_circuit.STATES, _circuit.REASONS, _circuit.REJECT_REASONS, _circuit.OUTCOMES):
        assert isinstance(spellings, tuple) and spellings
        assert len(set(spellings)) == len(spellings)
        assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", s) for s in spellings), spellings


def test_state_values_are_the_engine_spellings() -> None:
    assert [state.value for state in circuit.State] == list(_circuit.STATES)
    assert [state.name for state in circuit.State] == [s.upper() for s in _circuit.STATES]


def test_events_and_rejections_carry_engine_spellings() -> None:
    clock = circuit.ManualClock()
    breaker = circuit.CircuitBreaker(failure_threshold=1, reset_timeout=1.0, clock=clock)
    events: List[circuit.StateChange] = []
    breaker.on_state_change(events.append)
    with pytest.raises(RuntimeError):
        breaker.call(lambda: (_ for _ in ()).throw(RuntimeError()))
    with pytest.raises(circuit.CircuitOpenError) as info:
        breaker.call(lambda: None)
    assert info.value.state in _circuit.STATES and info.value.reason in _circuit.REJECT_REASONS
    breaker.force_open()
    breaker.reset()
    assert events and all(e.reason in _circuit.REASONS for e in events)
    assert all(isinstance(e.from_state, circuit.State) and isinstance(e.to_state, circuit.State) for e in events)


def test_the_open_error_documents_the_engine_spellings() -> None:
    doc = circuit.CircuitOpenError.__doc__ or ""
    for reason in _circuit.REJECT_REASONS:
        assert f'"{reason}"' in doc, f"CircuitOpenError's docstring does not name the reason {reason!r}"
    spelled = re.findall(r'"(\w+)"', doc)
    known = set(_circuit.STATES) | set(_circuit.REJECT_REASONS)
    assert spelled and all(s in known for s in spelled), spelled


# -- fleet options ---------------------------------------------------------------------------

FLEET_OPTIONS = _circuit.FLEET_OPTIONS
FLEET_NAMES = [option[0] for option in FLEET_OPTIONS]
# The host's own options, not fleet options: its sync thread, and how long an idle fleet breaker
# no breaker holds is kept (every binding's fleet set takes one).
FLEET_PYTHON_ONLY = ["thread", "idle_ttl"]


def _seconds(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"ms": 0.001, "s": 1.0, "h": 3600.0}[unit]


def test_redis_fleet_takes_every_fleet_option_with_the_schema_default() -> None:
    import inspect

    parameters = list(inspect.signature(circuit.RedisFleet.__init__).parameters.values())[2:]
    names = [p.name for p in parameters if p.name not in FLEET_PYTHON_ONLY]
    assert names == FLEET_NAMES, "RedisFleet.__init__ must list the schema's fleet options, in order"
    for (name, kind, default, _, _), parameter in zip(FLEET_OPTIONS, parameters):
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, name
        if default == "none":
            expected: Any = None
        elif kind == "duration":
            expected = _seconds(default)
        elif kind == "count":
            expected = int(default)
        elif kind == "number":
            expected = float(default)
        else:
            expected = default
        assert parameter.default == expected, f"{name}: default {parameter.default!r}, schema {default!r}"


def test_fleet_md_lists_every_fleet_option_with_its_default() -> None:
    text = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "fleet.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| ([^|]+) \|", text, re.M)
    assert [(n, k, d.strip()) for n, k, d in rows] == [(o[0], o[1], o[2]) for o in FLEET_OPTIONS]


def test_the_native_fleet_refuses_unknown_and_mistyped_options() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        _circuit._Fleet("x", colour=1)
    with pytest.raises(circuit.CircuitConfigError) as error:
        _circuit._Fleet("x", buckets=0)
    assert error.value.option == "buckets"
    with pytest.raises(TypeError):
        _circuit._Fleet("x", buckets=1.5)
    with pytest.raises(circuit.CircuitConfigError) as error:
        _circuit._Fleet("x", failure_rate_threshold=None)  # no rule left
    assert error.value.option == "failure_rate_threshold"
    _circuit._Fleet("x", failure_rate_threshold=None, slow_call_rate_threshold=0.5)
