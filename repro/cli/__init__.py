"""The ``repro`` command: one subcommand per module named in ``COMMANDS`` (``common`` holds their shared options)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from repro.errors import Interrupted, ReproError

# Each module defines add_parser(subparsers) and run(args) -> int.
COMMANDS = ["fetch", "prepare", "train", "translate", "score", "perplexity", "rescore", "encode", "report", "estimate", "audit", "record", "gpus"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repro",
        description="Reproduce Sutskever, Vinyals & Le (2014): prepare data, train, translate, score, report.",
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"repro.cli.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def _version() -> str:
    from repro import __version__

    return f"repro {__version__}"


def configure_logging() -> None:
    """Show the ``repro`` packages' messages (INFO and above, the bare message) on stderr.

    Only the ``repro`` logger is lowered to INFO: the root logger keeps its WARNING default, so the INFO
    chatter of other libraries (torch.distributed under torchrun, say) stays hidden. Calling it again
    changes nothing (``basicConfig`` does nothing once the root logger has a handler).
    """
    logging.basicConfig(format="%(message)s", stream=sys.stderr)
    logging.getLogger("repro").setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except Interrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return exc.exit_code
    except ReproError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
