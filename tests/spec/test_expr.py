import pytest

from shufflecalc.spec.expr import ExprError, compile_expr, evaluate, make_divisible

ENV = {"width": 0.5, "g": 3, "table": {1: [144, 288], 3: [240, 480]}, "flag": True}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("max(int(64 * width), 8)", 32),
        ("max(int(8 * width), 8)", 8),
        ("table[g][1] * width", 240.0),
        ("table[g][-1]", 480),
        ("7 // 2", 3),
        ("7 / 2", 3.5),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("1 if g > 2 else 0", 1),
        ("g in [1, 3] and not flag", False),
        ("round(2.5) + round(-2.5)", 0),
        ("round(3.5)", 4),
        ("floor(2.7) + ceil(2.1)", 5),
        ("1 < g <= 3", True),
        ("abs(-3) + min(4, 2)", 5),
    ],
)
def test_evaluates(text: str, expected: object) -> None:
    result = evaluate(text, ENV)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    "value, divisor, expected",
    # torchvision's _make_divisible, worked by hand: nearest multiple, never below 90% of the value
    [(32 * 0.75, 8, 24), (16 * 1.0, 8, 16), (72 * 0.5, 8, 40), (91, 8, 88), (10, 8, 16), (3, 8, 8)],
)
def test_make_divisible(value: float, divisor: int, expected: int) -> None:
    assert make_divisible(value, divisor) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("width.real", "'Attribute' is not allowed"),
        ("(lambda: 1)()", "only calls of named functions"),
        ("[x for x in table]", "'ListComp' is not allowed"),
        ("10 ** 100", "exponent 100 too large"),
        ("(2 ** 62) * 4", "number too large"),
        ("nope + 1", "undefined name 'nope'"),
        ("table[7]", "7 is not in the table (keys: 1, 3)"),
        ("table[g][5]", "index 5 out of range"),
        ("1 / (g - 3)", "division by zero"),
        ("g + table", "arithmetic on int 3 and a table"),
        ("1 +", "invalid expression"),
        ("x" * 1001, "expression too long"),
        ("[" + ",".join(["1"] * 400) + "]", "expression too large"),
        ("-" * 60 + "1", "nested too deeply"),
    ],
)
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(ExprError, match=None) as info:
        compile_expr(text)(ENV)
    assert message in str(info.value)


def test_compile_is_cached() -> None:
    assert compile_expr("g * 2") is compile_expr("g * 2")


def _functions(**bodies: str) -> dict:
    """An environment with spec functions of one argument x, as graph.py builds them."""
    from shufflecalc.spec.expr import UserFunction

    return {**ENV, **{name: UserFunction(name, ("x",), compile_expr(body), body) for name, body in bodies.items()}}


def test_exploding_recursion_is_stopped_by_the_step_budget() -> None:
    # 8 calls per level and 15 levels: 8**15 calls, each well inside the nesting limit of 16
    env = _functions(f="0 if x <= 0 else " + "+".join(["f(x-1)"] * 8))
    with pytest.raises(ExprError, match=r"f\(\): evaluation too long \(more than 10,000 steps"):
        evaluate("f(15) + 1", env)
    assert evaluate("f(2)", env) == 0  # 1 + 8 + 64 calls fit


def test_the_step_budget_is_shared_by_one_evaluation() -> None:
    from shufflecalc.spec.expr import MAX_STEPS

    f_body, g_body = "0 if x <= 0 else 1 + f(x - 1)", "+".join(["f(15)"] * 8)
    env = _functions(f=f_body, g=g_body)
    # g(0) makes 1 call of g and 8 x 16 calls of f (linear recursion from 15 down to 0)
    g_cost = compile_expr(g_body).nodes + 8 * 16 * compile_expr(f_body).nodes
    assert g_cost < MAX_STEPS and evaluate("g(0)", env) == 8 * 15
    terms = MAX_STEPS // g_cost + 1  # one g(0) fits, these together do not
    assert terms <= 30
    with pytest.raises(ExprError, match="evaluation too long"):
        evaluate("+".join(["g(0)"] * terms), env)
    assert evaluate("+".join(["g(0)"] * (terms - 1)), env) == (terms - 1) * 8 * 15
    for _ in range(terms):  # each evaluation starts with a full budget
        assert evaluate("g(0)", env) == 8 * 15
