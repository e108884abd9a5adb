"""``repro record``: write the record of a step's output (``repro.records``), the files the reports read."""

from __future__ import annotations

import argparse

HELP = "write the record of a prepared test set, a finished run, Figure 2's encoder states or an audit"
KINDS = ("data", "run", "figure2", "audit")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("record", help=HELP, description=HELP + " into a records directory (the layout of "
                              "repro.layout.RecordsLayout), stamped with the fingerprint of the settings that "
                              "produced it. The workflow's record rules call it; the reports read records only.")
    p.add_argument("kind", choices=KINDS, help="data: the test set of DATA_DIR (references, per-sentence source "
                   "length and word rarity); run: the finished run RUN_DIR (run.json, learning curves); figure2: "
                   "the encoder states of RUN_DIR's best model for Figure 2's phrases; audit: AUDIT_DIR/audit.json")
    p.add_argument("source", metavar="DIR", help="DATA_DIR, RUN_DIR or AUDIT_DIR")
    p.add_argument("--out", required=True, metavar="RECORDS_DIR", help="the records directory written into")
    p.add_argument("--name", metavar="RUN", help="the run's name in the plan (run, audit; default: DIR's name)")
    p.add_argument("--config", metavar="FILE.yaml", help="the experiment config (figure2 reads its data: section)")
    p.add_argument("--fingerprint", required=True, help="the digest of the settings behind the record "
                   "(repro.records.RecordPlan)")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from repro import records
    from repro.config import load_config
    from repro.layout import RecordsLayout

    out = RecordsLayout(args.out)
    name = args.name or Path(args.source).name
    if args.kind == "data":
        records.write_data_record(args.source, out, args.fingerprint)
    elif args.kind == "run":
        records.write_run_record(args.source, name, out, args.fingerprint)
    elif args.kind == "figure2":
        from repro.experiment_config import ExperimentConfig

        config = ExperimentConfig.from_dict(load_config(args.config) if args.config else {})
        records.write_figure2_record(args.source, config.data, out, args.fingerprint)
    else:
        from repro.layout import AUDIT_RECORD

        records.write_audit_record(Path(args.source) / AUDIT_RECORD, out.audit(name), args.fingerprint)
    print(f"wrote the {args.kind} record of {args.source} into {args.out}")
    return 0
