"""``repro fetch``: download a data source's files into the checksummed download cache, nothing else.

The workflow runs it as its own job before ``repro prepare`` for a source that downloads, so that a dry
run shows the download and an interrupted download resumes without redoing anything else.
"""

from __future__ import annotations

import argparse

HELP = "download the data source's files into the download cache (checksummed, resumable)"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("fetch", help=HELP, description=HELP + ". Writes a JSON record of what was "
                              "fetched (the source's description: where from, checksums) to --out.")
    p.add_argument("--config", required=True, metavar="FILE.yaml", help="experiment config (its data: section)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a data: value, e.g. data.multi30k.local_dir=/data/multi30k (repeatable)")
    p.add_argument("--out", required=True, metavar="FILE.json", help="where to write the record of what was fetched")
    return p


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from repro.config import load_config
    from repro.data.config import PrepareConfig, make_source
    from repro.io import atomic_write, check_outputs

    config = load_config(args.config, args.overrides, reads=("data",))
    source = make_source(PrepareConfig.from_dict(config.get("data")))
    check_outputs({"--out": args.out}, {"--config": args.config,
                                        **{f"the source's {path}": path for path in source.input_paths()}})
    source.fetch()
    with atomic_write(args.out, encoding="utf-8") as handle:
        json.dump(source.describe(), handle, indent=1)
        handle.write("\n")
    print(f"fetched the files of data source {source.name!r}; record in {args.out}", file=sys.stderr)
    return 0
