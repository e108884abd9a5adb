"""The estimate as text for a person: readiness, one row per model variant, decoding, totals, caveats."""

from __future__ import annotations

from typing import Any

from repro.estimate.projection import format_bytes, format_seconds


def render(result: dict[str, Any]) -> str:
    ready, data, totals = result["readiness"], result["data"], result["totals"]
    lines = [f"repro estimate: experiment {result['config']['experiment']} on {ready['device']} "
             f"({ready['device_name']}), {result['config']['steps']} timed training step(s) per model", ""]
    lines += ["Device readiness:",
              f"  CUDA: {'yes, ' + str(ready['cuda_devices']) + ' device(s)' if ready['cuda_available'] else 'not available'}",
              f"  bf16: {'supported' if ready['bf16_supported'] else 'not supported'} here; asked for in "
              f"training: {_yes(ready['bf16_requested']['train'])}, decoding: {_yes(ready['bf16_requested']['decode'])}"]
    if ready["nccl_required"]:
        lines.append(f"  NCCL (resources.train_gpus > 1): {'available' if ready['nccl_available'] else 'NOT available'}")
    lines.append(f"  memory budget: {format_bytes(ready['memory_budget_bytes'])} ({ready['memory_source']})")
    lines.append("  ready: yes" if ready["ready"] else "  ready: NO")
    lines += [f"  problem: {problem}" for problem in ready["problems"]]
    lines += ["", f"Data ({data['origin']}): {data['train_pairs']:,} training pairs, mean length "
              f"{data['train_mean_src_len']:.1f} -> {data['train_mean_tgt_len']:.1f} tokens; {data['valid_pairs']:,} "
              f"validation, {data['test_pairs']:,} test pairs; vocabularies {data['src_vocab_size']:,} / "
              f"{data['tgt_vocab_size']:,}", ""]

    header = ["model variant", "runs", "params", "dtype", "tokens/s", "peak memory", "fits", "epoch",
              "ceiling", "per run"]
    rows = [[m["variant"], str(m["runs"]), f"{m['parameters'] / 1e6:.2f}M", m["dtype"], f"{m['tokens_per_s']:,.0f}",
             format_bytes(m["peak_memory_bytes"]), {True: "yes", False: "NO", None: "?"}[m["fits"]],
             format_seconds(m["epoch_s"]), _ceiling(m), format_seconds(m["run_s"])] for m in result["models"]]
    lines += _table(header, rows)

    by_beam: dict[int, float] = {}
    for system in result["decoding"]:
        by_beam[system["beam"]] = by_beam.get(system["beam"], 0.0) + system["decode_s"]
    lines += ["", f"Decoding: {len(result['decoding'])} system(s) on {data['test_pairs']:,} test sentences; all "
              "systems at each beam: " + ", ".join(f"beam {beam}: {format_seconds(seconds)}" for beam, seconds in sorted(by_beam.items()))]
    slots = totals["slots_per_job"]
    lines += ["", f"Total on this device: {format_seconds(totals['serial_s'])} one job at a time "
              f"(training {format_seconds(totals['train_s'])}, decoding {format_seconds(totals['decode_s'])}, "
              f"{totals['jobs']} jobs at {totals['startup_s']:.1f} s start-up each); "
              f"{format_seconds(totals['parallel_s'])} with {totals['capacity']} {totals['capacity_unit']} "
              f"({slots['train']} per training job, {slots['decode']} per decoding job)", ""]
    lines += ["Parts (one sitting or machine each: `snakemake <target>`; a sitting's records complete the "
              "experiment with records_from):"]
    lines += _table(["target", "runs", "systems", "one job at a time", f"with {totals['capacity']} {totals['capacity_unit']}"],
                    [[p["target"], str(p["runs"]), str(p["systems"]), format_seconds(p["serial_s"]),
                      format_seconds(p["parallel_s"])] for p in result["parts"]])
    lines += ["", "What the projection cannot know:"] + [f"  - {note}" for note in result["caveats"]]
    return "\n".join(lines) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _ceiling(model: dict[str, Any]) -> str:
    limit = f"{model['epochs']:g} epochs"
    if model["max_steps"] is not None and model["steps_to_ceiling"] == model["max_steps"]:
        limit = f"{model['max_steps']} steps"
    return f"{limit}, {model['steps_to_ceiling']:,} steps"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths)))

    return [line(header), line(["-" * w for w in widths])] + [line(row) for row in rows]
