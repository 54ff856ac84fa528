"""A seeded mutational fuzzer for shufflecalc's inputs.

It takes the built-in specs, the repository's budget file and the built-in paper tables, mutates their text (a
value replaced by a hostile one, a line deleted, duplicated or swapped, a key misspelt, the file cut short, a control
character or an alias inserted), and command lines (a hostile value for an option or an argument: parameters,
ranges, files that are FIFOs, devices, directories or unwritable), runs each through the CLI's own entry point
(`shufflecalc.cli.run`) in this process, and classifies the outcome:

- ``ok`` (exit 0), ``failed-check`` (exit 1 from `check`: a budget exceeded, a legitimate answer), ``rejected``
  (exit 2 with exactly one line on stderr): what a user may see;
- ``crash`` (an exception escaped, a traceback or "internal error" printed, or an exit code other than 0/1/2),
  ``multi-line`` (exit 2 with more than one line on stderr), ``slow`` (over `TIME_LIMIT` seconds) and ``memory``
  (MemoryError under the address-space limit the runner sets): bugs.

Run it as a script for the long, nightly-style campaign (`python benchmarks/fuzz.py --count 4000`); the test suite runs
a few hundred mutations of it (tests/test_fuzz.py) in a subprocess with a memory limit.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT = 5.0  # seconds per run
MEMORY_LIMIT = 2 << 30  # bytes of address space for the fuzzing process (the analytic path needs ~0.3 GiB)
BUGS = ("crash", "multi-line", "slow", "memory")

HOSTILE_VALUES = [
    "0", "-1", "-7", "1000000000000000000", "99999999999999999999999999", "9" * 5000, "1e160", "1e300", "-1e300",
    ".inf", "-.inf", ".nan", "1:30", "010", "0o17", "0x10", "1_000", "1.5", "0.0001", "2.5e-300", "abc", "[]", "{}",
    "[1, 2]", "{a: 1}", "null", "~", "true", "no", "''", "'\\x1b[31mred'", '"a\\nb"', '"\\x00"', "!!int abc",
    "!!float x", "!!binary aGk=", "!!python/object:os.system ls", '"10**100"', '"2**62 + 2**62"', '"round(8, 10**8)"',
    '"__depth__"', '"__budget__"', '"min([])"', '"1/0"', '"(((((((((1)))))))))"', '"x" ', "&a [*a]", "*undefined",
    "[" * 2000 + "]" * 2000, "{a: " * 300 + "1" + "}" * 300, '"' + "+1" * 600 + '"', "training", "_plan", "1.0e+1",
    "0b101", "+12", "12.", ".5", "-0", "0.0",
]
CONTROL = ["\x1b[31m", "\x00", "\x07", "\r", "\t", "\ufeff", "\u202e"]
_VALUE_LINE = re.compile(r"^(\s*(?:-\s+)?[\w.\"']+:\s+)(\S.*?)(\s+#.*)?$")
_INLINE_VALUE = re.compile(r"(\w+:\s*)([^,{}\[\]\s][^,{}\[\]]*)")


@dataclass(frozen=True)
class Seed:
    """An input file to mutate and the command line that reads it ({} is the mutant's path)."""

    name: str
    text: str
    commands: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Outcome:
    seed: str
    mutation: str
    command: tuple[str, ...]
    kind: str  # ok | failed-check | rejected | crash | multi-line | slow | memory
    code: int | None
    seconds: float
    detail: str  # the stderr line, or what went wrong

    @property
    def bug(self) -> bool:
        return self.kind in BUGS


def seeds() -> list[Seed]:
    found = []
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        found.append(Seed(path.name, path.read_text(), (("show", "{}"), ("show", "{}", "-f", "json"),
                                                        ("compare", "{}", "mobilenet", "-f", "csv"))))
    budgets = (ROOT / "budgets.yaml").read_text()
    found.append(Seed("budgets.yaml", budgets, (("check", "{}"), ("check", "{}", "-f", "json"))))
    for path in sorted((ROOT / "specs" / "tables").glob("*.yaml")):
        found.append(Seed(f"tables/{path.name}", path.read_text(), (("table", "{}"),)))
    return found


# --- mutations --------------------------------------------------------------------------------------------------------


def _replace_value(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines()
    candidates = [i for i, line in enumerate(lines) if _VALUE_LINE.match(line) or _INLINE_VALUE.search(line)]
    if not candidates:
        return text, "none"
    i = rng.choice(candidates)
    value = rng.choice(HOSTILE_VALUES)
    m = _VALUE_LINE.match(lines[i])
    if m and rng.random() < 0.5:
        lines[i] = m.group(1) + value
    else:
        spots = list(_INLINE_VALUE.finditer(lines[i]))
        if not spots:
            return text, "none"
        s = rng.choice(spots)
        lines[i] = lines[i][: s.start(2)] + value + lines[i][s.end(2) :]
    return "\n".join(lines) + "\n", f"line {i + 1}: value -> {value[:40]!r}"


def _delete_line(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines()
    i = rng.randrange(len(lines))
    del lines[i]
    return "\n".join(lines) + "\n", f"line {i + 1}: deleted"


def _duplicate_line(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines()
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines) + "\n", f"line {i + 1}: duplicated"


def _swap_lines(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines()
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n", f"lines {i + 1} and {j + 1}: swapped"


def _misspell_key(text: str, rng: random.Random) -> tuple[str, str]:
    keys = list(re.finditer(r"(?m)^(\s*(?:-\s+)?)(\w+)(:)", text))
    if not keys:
        return text, "none"
    k = rng.choice(keys)
    new = rng.choice([k.group(2) + "x", k.group(2)[:-1], k.group(2).upper(), "__" + k.group(2), "<<"])
    return text[: k.start(2)] + new + text[k.end(2) :], f"key {k.group(2)!r} -> {new!r}"


def _truncate(text: str, rng: random.Random) -> tuple[str, str]:
    cut = rng.randrange(len(text))
    return text[:cut], f"cut at character {cut}"


def _insert_control(text: str, rng: random.Random) -> tuple[str, str]:
    at = rng.randrange(len(text))
    char = rng.choice(CONTROL)
    return text[:at] + char + text[at:], f"{char!r} at character {at}"


def _alias(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines()
    candidates = [i for i, line in enumerate(lines) if _VALUE_LINE.match(line)]
    if len(candidates) < 2:
        return text, "none"
    i, j = sorted(rng.sample(candidates, 2))
    a, b = _VALUE_LINE.match(lines[i]), _VALUE_LINE.match(lines[j])
    assert a is not None and b is not None
    lines[i] = f"{a.group(1)}&fz {a.group(2)}"
    lines[j] = f"{b.group(1)}*fz"
    return "\n".join(lines) + "\n", f"line {j + 1}: alias of line {i + 1}"


def _indent(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines()
    i = rng.randrange(len(lines))
    lines[i] = rng.choice(["  ", " ", "\t"]) + lines[i] if rng.random() < 0.7 else lines[i].lstrip()
    return "\n".join(lines) + "\n", f"line {i + 1}: indentation changed"


MUTATIONS: list[Callable[[str, random.Random], tuple[str, str]]] = [
    _replace_value, _replace_value, _replace_value, _replace_value, _delete_line, _duplicate_line, _swap_lines,
    _misspell_key, _truncate, _insert_control, _alias, _indent,
]


# Command lines with one hostile value ({v}); {tmp} is a scratch directory, {fifo} a FIFO in it.
COMMAND_LINES = [
    ("show", "shufflenet", "--g", "{v}"), ("compare", "mobilenet", "shufflenet", "--width", "{v}"),
    ("show", "mobilenet", "--resolution", "{v}"), ("show", "shufflenet", "--set", "{v}"),
    ("compare", "shufflenet", "--set", "g={v}"), ("sweep", "shufflenet", "--g", "{v}"),
    ("sweep", "mobilenet", "--resolution", "{v}", "-f", "csv"), ("sweep", "mobilenet", "--width", "{v}", "-f", "json"),
    ("formula", "gconv", "--K", "3", "--M", "{v}", "--N", "12", "--g", "3", "--Iw", "7", "--Ih", "7"),
    ("formula", "unit-c", "--M", "240", "--N", "60", "--g", "{v}", "--Iw", "7", "--Ih", "7"),
    ("shuffle", "--g", "{v}", "--channels", "12"), ("shuffle", "--g", "3", "--channels", "{v}"),
    ("explain", "shufflenet", "--g", "{v}"), ("table", "{v}"), ("show", "{v}"), ("check", "{v}"),
    ("check", "{budgets}", "--baseline", "{v}"), ("check", "{budgets}", "--max-increase", "{v}", "--baseline",
                                                  "{budgets}"),
    ("show", "mobilenet", "-o", "{v}"), ("compare", "mobilenet", "--output", "{tmp}/{v}"),
    ("show", "mobilenet", "--by", "{v}"), ("show", "mobilenet", "-f", "{v}"), ("sweep", "mobilenet", "--sort", "{v}"),
]
ARGUMENT_VALUES = [
    *HOSTILE_VALUES, "", " ", ",", "1,,2", "nan", "inf", "-inf", "1e999", "1:1e9:1", "0:1:0", "1:0:1", "a:b:c",
    "1:2:1e-30", "g", "g=", "=3", "g=nan", "g=" + "9" * 5000, "width=inf", "x" * 5000, "{fifo}", "/dev/zero",
    "/dev/null", "/", "{tmp}", "/proc/self/status", "/proc/x.json", "{tmp}/" + "a" * 300 + ".json", "{tmp}/new.json",
    "{tmp}/nodir/x.json", "-", "--", "--help", "3 ", "\u0663", "٣", "0x3", "3.0", "3.5", "-3", "100000",
]


def _command_line(rng: random.Random) -> tuple[tuple[str, ...], str]:
    template = rng.choice(COMMAND_LINES)
    value = rng.choice(ARGUMENT_VALUES)
    return tuple(a.replace("{v}", value) for a in template), f"command line, value {value[:40]!r}"


def mutants(seed: int, count: int) -> Iterator[tuple[Seed, str, str]]:
    """`count` mutants (seed input, mutated text, what was done), reproducible from `seed`; a seed named
    "command line" carries its command in `commands` and no text."""
    rng = random.Random(seed)
    inputs = seeds()
    for _ in range(count):
        if rng.random() < 0.25:
            command, what = _command_line(rng)
            yield Seed("command line", "", (command,)), "", what
            continue
        s = rng.choice(inputs)
        text, done = s.text, []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            text, what = rng.choice(MUTATIONS)(text or "\n", rng)
            done.append(what)
        yield s, text, "; ".join(done)


# --- running ----------------------------------------------------------------------------------------------------------


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Timeout


def run_one(args: tuple[str, ...]) -> tuple[int | None, str, str, str | None, float]:
    """Run the CLI in-process: (exit code, stdout, stderr, escaped exception or None, seconds)."""
    from shufflecalc.cli import run

    out, err = io.StringIO(), io.StringIO()
    escaped = None
    code: int | None = None
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(list(args), prog_name="shufflecalc")
    except _Timeout:
        escaped = "slow"
    except MemoryError:
        escaped = "memory"
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # anything else escaping run() is a crash
        escaped = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue(), escaped, time.perf_counter() - start


def classify(
    command: tuple[str, ...], code: int | None, stderr: str, escaped: str | None, seconds: float
) -> tuple[str, str]:
    if escaped in ("slow", "memory"):
        return escaped, f"over {TIME_LIMIT} s" if escaped == "slow" else "MemoryError"
    if escaped is not None:
        return "crash", escaped
    lines = stderr.strip().splitlines()
    first = lines[0] if lines else ""
    if "Traceback (most recent call last)" in stderr or "internal error" in stderr or code not in (0, 1, 2):
        return "crash", f"exit {code}: {first[:300]}"
    if seconds > TIME_LIMIT:
        return "slow", f"{seconds:.1f} s"
    if code == 2:
        return ("rejected", first) if len(lines) == 1 else ("multi-line", " | ".join(lines[:3])[:300])
    if code == 1:
        return ("failed-check", first) if command[0] == "check" else ("crash", f"exit 1 from {command[0]}: {first}")
    return "ok", ""


def campaign(seed: int, count: int, progress: bool = False) -> list[Outcome]:
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        fifo = Path(tmp) / "fifo.yaml"
        os.mkfifo(fifo)
        places = {"{tmp}": tmp, "{fifo}": str(fifo), "{budgets}": str(ROOT / "budgets.yaml")}
        for n, (s, text, mutation) in enumerate(mutants(seed, count)):
            path = Path(tmp) / f"m{n}.yaml"
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            command = tuple(a.replace("{}", str(path)) for a in random.Random(seed * 1_000_003 + n).choice(s.commands))
            for key, place in places.items():
                command = tuple(a.replace(key, place) for a in command)
            code, _, stderr, escaped, seconds = run_one(command)
            kind, detail = classify(command, code, stderr, escaped, seconds)
            outcomes.append(Outcome(s.name, mutation, command, kind, code, round(seconds, 3), detail))
            if progress and n % 100 == 99:
                print(f"{n + 1}/{count}", file=sys.stderr)
    return outcomes


def summary(outcomes: list[Outcome]) -> dict[str, object]:
    kinds = Counter(o.kind for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    return {
        "runs": len(outcomes),
        "outcomes": dict(sorted(kinds.items())),
        "bugs": [o.__dict__ | {"command": list(o.command)} for o in outcomes if o.bug],
        "slowest_seconds": slowest.seconds,
        "slowest": f"{slowest.seed}: {slowest.mutation}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--memory", type=int, default=MEMORY_LIMIT, help="address-space limit in bytes")
    args = parser.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_AS, (args.memory, args.memory))
    result = summary(campaign(args.seed, args.count, progress=sys.stderr.isatty()))
    print(json.dumps(result, indent=1, sort_keys=True))
    return 1 if result["bugs"] else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
