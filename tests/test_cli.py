"""The `repro` command: every subcommand is registered and every option says what it does."""

from __future__ import annotations

import argparse

import pytest

from repro.cli import COMMANDS, build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_is_registered():
    assert sorted(_subparsers(build_parser())) == sorted(COMMANDS)


def test_every_subcommand_says_what_it_does_in_the_command_list(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    assert sorted(helps) == sorted(COMMANDS)
    for command, text in helps.items():
        assert text and len(text.split()) >= 4, f"repro {command}: no one-line help in `repro --help`"
        assert " ".join(text.split()[:4]) in " ".join(listing.split()), f"repro {command}: help not listed"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help(command):
    sub = _subparsers(build_parser())[command]
    assert sub.description and sub.description.strip(), f"repro {command}: no description in its --help"
    missing = [a.dest for a in sub._actions
               if not isinstance(a, argparse._HelpAction) and not (a.help and a.help.strip())]
    assert not missing, f"repro {command}: options without help: {missing}"


def test_report_ablations_without_ablations_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("experiment: x\ndata: {source: synthetic}\n")
    assert main(["report", "ablations", "--config", str(config), "--work", str(tmp_path), "--out",
                 str(tmp_path / "out")]) == 2
    assert "only when ablations.enabled is true" in capsys.readouterr().err


# The workflow runs most of its jobs as `repro` commands that never touch a model: scoring BLEU, the records
# and every report. Importing torch costs seconds a process, so these stay torch-free.
TORCH_FREE = ["repro.cli.record", "repro.cli.report", "repro.cli.score", "repro.records", "repro.report.context",
              "repro.report.paper_report", "repro.report.ablation_report", "repro.report.convergence",
              "repro.report.runs", "repro.report.compare", "repro.evaluation.bleu", "repro.train.config",
              "repro.experiment_config"]


def test_the_parser_and_the_commands_that_need_no_model_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom repro.cli import build_parser\nbuild_parser()\n"
            + "".join(f"import {module}\n" for module in TORCH_FREE)
            + "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))[:3])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
