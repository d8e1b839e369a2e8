"""The ``harness`` command. Usage errors exit 2 with a message, never a traceback."""

from __future__ import annotations

import argparse
import sys

from harness.errors import HarnessError, UsageError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description="Evaluate and chaos-test LLM agents.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run one multi-role agent offline on the scripted model")
    sub.add_parser("diagram", help="print the state machine's transition table as Mermaid")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        if args.command == "demo":
            from harness.demo import main as demo_main

            return demo_main()
        if args.command == "diagram":
            from harness.core import mermaid

            print(mermaid())
            return 0
    except UsageError as err:
        print(f"harness: {err}", file=sys.stderr)
        return 2
    except HarnessError as err:
        print(f"harness: {err}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command!r}")
    return 2


def entry() -> None:
    """Console-script entry: a closed pipe (``harness demo | head``) is not an error."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    entry()
