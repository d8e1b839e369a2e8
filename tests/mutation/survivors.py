"""After ``mutmut run``: the mutation score, and every survivor not known to be equivalent.

Reads mutmut's results (``mutants/**/*.py.meta``) and ``tests/mutation/equivalent.md``,
where each equivalent mutant is listed by name with why no test can kill it. Prints the
diff of each survivor not listed there and exits 1 if there is one, so ``make mutate``
fails until it is killed by a test or shown to be equivalent. A listed name that is
no longer a survivor is reported too: the list stays true to the code.

Run from the project root: ``python tests/mutation/survivors.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT = Path(__file__).with_name("equivalent.md")

#: mutmut's exit codes, grouped the way the score counts them.
KILLED = {1, 3, 24, -24, 152, 255, 36, 37}  # a test failed, timed out, or mypy refused it
SURVIVED = {0}
NO_TESTS = {5, 33}


def results() -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def listed() -> set[str]:
    """Mutant names given in backticks at the start of a list item of equivalent.md."""
    names = re.findall(r"^\s*[-*]\s+`([\w.ǁ]+__mutmut_\d+)`", EQUIVALENT.read_text(), re.M)
    return set(names)


def main() -> int:
    codes = results()
    if not codes:
        print("no mutmut results under mutants/: run `mutmut run` first", file=sys.stderr)
        return 2
    status = Counter("killed" if c in KILLED else "survived" if c in SURVIVED
                     else "no tests" if c in NO_TESTS else "not checked" if c is None
                     else "suspicious" for c in codes.values())
    equivalent = listed()
    survivors = sorted(k for k, c in codes.items() if c in SURVIVED or c in NO_TESTS)
    unexplained = [k for k in survivors if k not in equivalent]
    stale = sorted(equivalent - set(survivors))
    other = sorted(k for k, c in codes.items()
                   if c is None or (c not in KILLED | SURVIVED | NO_TESTS))
    total = len(codes)
    score = status["killed"] / total
    judged = total - len(equivalent & set(survivors))
    print(f"mutants: {total}  " + "  ".join(f"{k}: {v}" for k, v in sorted(status.items())))
    print(f"mutation score: {score:.1%} killed of all mutants; "
          f"{status['killed'] / judged:.1%} of the {judged} that are not equivalent")
    print(f"equivalent survivors, listed with why in {EQUIVALENT.relative_to(ROOT)}: "
          f"{len(equivalent & set(survivors))}")
    for name in unexplained:
        print(f"\nSURVIVED (not listed as equivalent): {name}")
        diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=ROOT,
                              capture_output=True, text=True)
        print(diff.stdout.strip() or diff.stderr.strip())
    for name in other:
        print(f"\nNOT JUDGED ({codes[name]}): {name}")
    for name in stale:
        print(f"\nlisted as equivalent but not a survivor now (update the list): {name}")
    if unexplained or other:
        print(f"\n{len(unexplained) + len(other)} mutant(s) need a test, or a line in "
              f"{EQUIVALENT.relative_to(ROOT)} saying why they are equivalent")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
