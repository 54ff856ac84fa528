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
        ("__import__('os')", "'__import__' is not allowed: names starting with '__' are reserved"),
        ("__budget__", "'__budget__' is not allowed"),
        ("__depth__ + 1", "'__depth__' is not allowed"),
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
    with pytest.raises(ExprError, match=r"evaluation too long \(more than 100,000 steps"):
        evaluate("f(15) + 1", env)
    assert evaluate("f(2)", env) == 0  # 1 + 8 + 64 calls fit


def test_the_step_budget_is_shared_by_every_evaluation_that_gets_it() -> None:
    from shufflecalc.spec.expr import BUDGET, MAX_STEPS, Budget

    f_body, g_body = "0 if x <= 0 else 1 + f(x - 1)", "+".join(["f(15)"] * 8)
    env = _functions(f=f_body, g=g_body)
    # "g(0)" spends its own nodes, one call of g and 8 x 16 calls of f (linear recursion from 15 down to 0)
    cost = compile_expr("g(0)").nodes + compile_expr(g_body).nodes + 8 * 16 * compile_expr(f_body).nodes
    budget = Budget()
    assert evaluate("g(0)", {**env, BUDGET: budget}) == 8 * 15 and budget.spent == cost
    # one budget given to many evaluations (as graph.expand gives one to a whole spec): they spend it together
    shared = {**env, BUDGET: Budget()}
    for _ in range(MAX_STEPS // cost):
        assert evaluate("g(0)", shared) == 8 * 15
    with pytest.raises(ExprError, match="evaluation too long"):
        evaluate("g(0)", shared)
    for _ in range(MAX_STEPS // cost + 5):  # without one, each evaluation has a full budget of its own
        assert evaluate("g(0)", env) == 8 * 15


@pytest.mark.parametrize("text", ["round(8, 10**8)", "round(8, -10**8)", "round(2.5, 16)", "round(2.5, 1.5)",
                                  "round(2.5, [1])"])
def test_round_digits_are_bounded(text: str) -> None:
    # round(8, 10**8) computed 10**(10**8) for minutes
    with pytest.raises(ExprError, match="ndigits must be a whole number from -15 to 15"):
        evaluate(text, ENV)
    assert evaluate("round(2.345, 2)", ENV) == 2.35 and evaluate("round(1234, -2)", ENV) == 1200


BIG = {"big": list(range(150_000)), "text": "x" * 100_000, "rows": [list(range(100))] * 2000, "small": [3, 1, 2]}


@pytest.mark.parametrize("text", ["max(big)", "min(text)", "min(rows)"])
def test_builtins_refuse_huge_lists_and_strings(text: str) -> None:
    assert evaluate("max(small) + max(rows[0])", BIG) == 3 + 99
    with pytest.raises(ExprError, match=r"\(\): .* is too large \(more than 10,000 items or characters\)"):
        evaluate(text, BIG)


@pytest.mark.parametrize("text", ["big == big", "1 in big", "text == text", "'y' in text", "rows < rows"])
def test_comparisons_spend_the_size_of_lists_and_strings(text: str) -> None:
    # one comparison of a 150,000-item list is fine in itself; evaluated for each of 20,000 layers it was not
    from shufflecalc.spec.expr import BUDGET, Budget

    with pytest.raises(ExprError, match="evaluation too long"):
        evaluate(text, {**BIG, BUDGET: Budget()})
    budget = Budget()
    assert evaluate("2 in small", {**BIG, BUDGET: budget}) is True
    assert budget.spent == compile_expr("2 in small").nodes + 1 + 4  # the number, the list and its 3 items


def test_a_table_lookup_spends_only_the_key() -> None:
    from shufflecalc.spec.expr import BUDGET, Budget

    budget = Budget()
    table = {i: i for i in range(50_000)}
    assert evaluate("7 in table", {"table": table, BUDGET: budget}) is True
    assert budget.spent == compile_expr("7 in table").nodes + 1


def test_a_function_call_does_not_copy_the_environment() -> None:
    # a call used to copy the whole environment: 100,000 defines made every call cost 100,000
    import time

    env = {**_functions(f="x + 1"), **{f"d{i}": i for i in range(100_000)}}
    start = time.perf_counter()
    for _ in range(200):
        assert evaluate("f(f(f(1)))", env) == 4
    assert time.perf_counter() - start < 1.0


def test_messages_show_huge_values_shortened() -> None:
    with pytest.raises(ExprError) as info:
        evaluate("float(text)", BIG)
    assert len(str(info.value)) < 200
    with pytest.raises(ExprError) as info:
        evaluate("table[5]", {"table": {i: i for i in range(10, 5000)}})
    assert len(str(info.value)) < 300 and str(info.value).endswith(", ...)")
