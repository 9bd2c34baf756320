"""Print the mutation score per module from a finished `mutmut run` (the table of docs/testing.md).

mutmut keeps one ``<module>.py.meta`` per mutated file under ``mutants/``, mapping each mutant to
the exit code of the tests run against it. Usage: ``python scripts/mutation_scores.py [--survivors]``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

# mutmut's own meaning of the exit codes (mutmut/stats.py, status_by_exit_code).
KILLED = {1, 3}
TIMEOUT = {36, 24, -24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


def verdict(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in TIMEOUT:
        return "timeout"
    if code in SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    return "not checked" if code is None else f"other ({code})"


def main(argv: list[str]) -> int:
    root = Path("mutants")
    metas = sorted(root.rglob("*.py.meta"))
    if not metas:
        print("no mutmut results under mutants/: run `make mutation` first", file=sys.stderr)
        return 1
    print(f"| {'module':<30} | mutants | killed | survived | no tests | score |")
    print(f"|{'-' * 32}|---------|--------|----------|----------|-------|")
    totals: Counter[str] = Counter()
    survivors: list[str] = []
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(verdict(code) for code in codes.values())
        survivors += [name for name, code in codes.items() if verdict(code) in ("survived", "no tests")]
        killed = counts["killed"] + counts["timeout"]  # a mutant that hangs the tests is caught too
        totals.update(counts)
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        print(f"| {module:<30} | {len(codes):>7} | {killed:>6} | {counts['survived']:>8} | "
              f"{counts['no tests']:>8} | {killed / len(codes):>5.0%} |" if codes else f"| {module} | 0 |")
    total = sum(totals.values())
    killed = totals["killed"] + totals["timeout"]
    print(f"| {'all':<30} | {total:>7} | {killed:>6} | {totals['survived']:>8} | {totals['no tests']:>8} | "
          f"{killed / total:>5.0%} |")
    if "--survivors" in argv:
        print("\n".join(["", "survivors (`mutmut show NAME` prints the change):"] + sorted(survivors)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
