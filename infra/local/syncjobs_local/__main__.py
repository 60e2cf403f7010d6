"""python -m syncjobs_local demo  -- run the demo on the local stack."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args else "demo"
    if command == "demo":
        from syncjobs_local.demo import main as demo

        return demo(args)
    print(f"unknown command {command!r}; expected: demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
