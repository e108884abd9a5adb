"""The Snakemake workflow: lint, dry runs, config validation, step configs, profiles, the demo run.

Every test runs Snakemake on a fresh copy of the workflow (Snakefile + workflows/) in a temporary
directory, so nothing is written into the repository's work/ or results/.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from repro.estimate.projection import workflow_jobs
from repro.experiments import plan

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflows" / "schemas" / "config.schema.yaml"
DEMO = REPO / "workflows" / "config" / "demo.yaml"


@pytest.fixture
def wf(tmp_path: Path, copy_workflow) -> Path:
    return copy_workflow(tmp_path / "wf")


def test_lint_is_clean(wf: Path, snakemake) -> None:
    proc = snakemake(wf, "--lint")
    out = proc.stdout + proc.stderr
    assert "Lints for" not in out, out
    assert "Congratulations, your workflow is in a good condition!" in out


def test_dry_run_of_demo_lists_the_whole_paper_matrix(wf: Path, snakemake, job_counts) -> None:
    # the committed reference sits in results/reference/demo, so a fresh clone still runs everything
    shutil.copytree(REPO / "results" / "reference" / "demo", wf / "results" / "reference" / "demo")
    proc = snakemake(wf, "-n", "-p", "--cores", "2")
    counts = job_counts(proc.stdout)
    # The paper's 3 reversed + 3 forward models and 5 ablation variants, each with seeds 1-3: 21 models,
    # each main-recipe model with a test perplexity. Decoding: 5 beams x (single, ensemble of 2, of 3) +
    # fairseq's convention at beam 12 (single, ensemble of 3) + forward at beams 1/2/12 = 20 paper
    # systems, plus every run at the ablation beam 2 (21) minus the 2 already decoded.
    assert counts["prepare"] == 1 and counts["train"] == 21 and counts["perplexity"] == 6
    assert counts["translate"] == counts["score"] == 20 + 21 - 2
    # one job per report (repro.report.outputs.REPORTS; the audit is not part of `all`), then the check
    for rule in ("table1", "reversal", "beam", "table2", "fig3", "fig2", "ablations", "runs", "convergence",
                 "compare_reference", "all"):
        assert counts[rule] == 1, rule
    assert "audit" not in counts
    # `repro estimate` schedules the same jobs of those steps (repro.estimate.projection.workflow_jobs)
    jobs = workflow_jobs(plan(yaml.safe_load(DEMO.read_text(encoding="utf-8"))), train_s=lambda run: 1.0,
                         perplexity_s=lambda run: 1.0, decode_s=lambda system: 1.0, startup_s=0.0,
                         slots={"train": 1, "decode": 1, "score": 1})
    steps = Counter(str(job.name.step) for job in jobs)
    assert set(steps) == {"train", "perplexity", "translate", "score"}
    assert steps == {step: counts[step] for step in steps}
    assert "fetch" not in counts  # the synthetic source downloads nothing
    assert (
        "repro prepare --config work/demo/config/prepare.yaml --workers 2 --out work/demo/data "
        "> work/demo/logs/prepare.log 2>&1"
    ) in proc.stdout
    assert "--set model.reverse_source=false --set train.seed=1" in proc.stdout  # the forward run
    assert not (wf / "work").exists()


def test_robustness_rerun_trains_in_fp32_in_its_own_directories_and_checks_the_demo_reference(wf: Path, snakemake) -> None:
    robustness = REPO / "workflows" / "config" / "demo-fp32.yaml"
    proc = snakemake(wf, "-n", "-p", "--cores", "2", "--configfile", str(DEMO), str(robustness))
    assert proc.returncode == 0, proc.stderr
    assert "export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1; repro train --data work/demo-fp32/data" in proc.stdout
    assert ("repro report compare --config work/demo-fp32/config/report.yaml --work work/demo-fp32 "
            "--out results/demo-fp32 --reference results/reference/demo ") in proc.stdout
    assert "work/demo/" not in proc.stdout
    # the override is deep-merged into the demo: only the numerics change
    snakemake(wf, "work/demo-fp32/config/train.yaml", "--cores", "1", "--configfile", str(DEMO), str(robustness))
    train = yaml.safe_load((wf / "work" / "demo-fp32" / "config" / "train.yaml").read_text(encoding="utf-8"))
    demo = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    assert train["train"] == {**demo["train"], "bf16": False} and train["model"] == demo["model"]


def test_configfile_on_command_line_replaces_the_demo(wf: Path, snakemake) -> None:
    other = wf / "other.yaml"
    other.write_text(
        "experiment: tiny\ndata:\n  source: local\n  local: {train_src: a.en, train_tgt: a.fr}\n", encoding="utf-8"
    )
    for name in ("a.en", "a.fr"):  # the config is validated, its files checked, when Snakemake parses it
        (wf / name).write_text("a b\n", encoding="utf-8")
    snakemake(wf, "work/tiny/config/prepare.yaml", "--cores", "1", "--configfile", str(other))
    written = yaml.safe_load((wf / "work/tiny/config/prepare.yaml").read_text(encoding="utf-8"))
    # Nothing of demo.yaml (seed, vocabulary sizes) is merged into another experiment.
    assert written == {
        "experiment": "tiny",
        "data": {"source": "local", "local": {"train_src": "a.en", "train_tgt": "a.fr"}},
    }
    assert not (wf / "work/demo").exists()


def test_step_config_reruns_only_when_its_sections_change(wf: Path, snakemake, job_counts) -> None:
    target = "work/demo/config/prepare.yaml"
    snakemake(wf, "--cores", "1", target)
    written = yaml.safe_load((wf / target).read_text(encoding="utf-8"))
    demo = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    assert written == {"experiment": demo["experiment"], "data": demo["data"]}  # only what prepare reads

    assert "Nothing to be done" in snakemake(wf, "-n", "--cores", "1", target).stdout
    # The same config with its keys in another order is the same config.
    reordered = wf / "reordered.yaml"
    reordered.write_text(yaml.safe_dump(_reversed_keys(demo), sort_keys=False), encoding="utf-8")
    assert list(yaml.safe_load(reordered.read_text(encoding="utf-8"))["data"]) != list(demo["data"])
    assert "Nothing to be done" in snakemake(wf, "-n", "--cores", "1", target, "--configfile", str(reordered)).stdout
    # A section that preparation does not read leaves its config alone ...
    assert "Nothing to be done" in snakemake(wf, target, "-n", "--cores", "1", "--config", "model={hidden_size: 8}").stdout
    # ... a changed data value (given on the command line) rewrites it, and preparation reruns.
    proc = snakemake(wf, "work/demo/data", "-n", "--cores", "1", "--config", "data={seed: 7}")
    counts = job_counts(proc.stdout)
    assert counts["step_config"] == 1 and counts["prepare"] == 1
    assert "Params have changed since last execution" in proc.stdout, proc.stdout


def _reversed_keys(value):
    if isinstance(value, dict):
        return {key: _reversed_keys(value[key]) for key in reversed(list(value))}
    return value


def test_schema_accepts_demo_and_sets_no_defaults() -> None:
    config = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    before = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    validate(config, str(SCHEMA))
    assert config == before


@pytest.mark.parametrize(
    "config, problem",
    [
        ({"experiment": "demo", "data": {"seed": 1}}, "source"),
        ({"data": {"source": "synthetic"}}, "experiment"),
        ({"experiment": "a/b", "data": {"source": "synthetic"}}, "a/b"),
        ({"experiment": "demo", "data": {"source": "synthetic"}, "modle": {}}, "modle"),
        ({"experiment": "demo", "data": {"source": "synthetic"}, "train": [1, 2]}, "train"),
    ],
)
def test_schema_rejects_bad_configs(config: dict, problem: str) -> None:
    with pytest.raises(WorkflowError) as info:
        validate(config, str(SCHEMA))
    assert problem in str(info.value)


def test_workflow_refuses_a_config_with_an_unknown_source(wf: Path, snakemake) -> None:
    bad = wf / "bad.yaml"
    bad.write_text("experiment: bad\ndata:\n  source: wmt15\n", encoding="utf-8")
    proc = snakemake(wf, "-n", "--cores", "1", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "wmt15" in proc.stdout + proc.stderr


def test_default_profile_dry_run(wf: Path, snakemake, job_counts) -> None:
    proc = snakemake(wf, "--workflow-profile", "workflows/profiles/default", "-n")
    assert job_counts(proc.stdout)["prepare"] == 1


def test_slurm_profile_dry_run(wf: Path, snakemake, job_counts) -> None:
    assert importlib.util.find_spec("snakemake_executor_plugin_slurm"), (
        "snakemake-executor-plugin-slurm is part of the test extra: pip install -e '.[test]'"
    )
    # A dry run caps threads at --cores (1 unless given); on the cluster they are not capped.
    proc = snakemake(wf, "--profile", "workflows/profiles/slurm", "-n", "--cores", "16")
    assert job_counts(proc.stdout)["train"] == len(plan(yaml.safe_load(DEMO.read_text(encoding="utf-8"))).runs)
    prepare = proc.stdout.split("rule prepare:", 1)[1].split("\n\n", 1)[0]
    assert "threads: 8" in prepare
    assert "mem_mb=16000" in prepare and "runtime=720" in prepare


def _job_block(stdout: str, rule: str) -> str:
    """The first job of ``rule`` in a dry run's output: its lines up to the shell command's."""
    return stdout.split(f"rule {rule}:", 1)[1].split("\n\n", 1)[0]


def _resources(block: str) -> dict[str, object]:
    """A dry-run job's ``resources:`` line as Snakemake evaluated them (numbers as ints)."""
    line = next(line for line in block.splitlines() if line.strip().startswith("resources:"))
    pairs = (item.split("=", 1) for item in line.split(":", 1)[1].split(", "))
    return {key.strip(): int(value) if value.isdigit() else value for key, value in pairs}


class _JobResources(dict):
    """What the SLURM plugin reads of a job's resources: ``.get(name)`` and ``.name``."""

    def __getattr__(self, name: str) -> object:
        return self[name]


def test_slurm_submits_a_paper_training_job_on_4_gpus_to_one_node_within_a_48_hour_limit(wf: Path, snakemake) -> None:
    """The sbatch command snakemake-executor-plugin-slurm builds (its own code, no cluster needed) for a
    training job of paper.yaml with resources.train_gpus: 4, from the resources Snakemake gives the job."""
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    four = wf / "four-gpus.yaml"
    four.write_text("resources:\n  train_gpus: 4\n  train_threads: 8\n", encoding="utf-8")
    # a cluster node's cores: a dry run caps a job's threads at --cores, the cluster does not
    proc = snakemake(wf, "--profile", "workflows/profiles/slurm", "-n", "--cores", "64",
                     "--configfile", "workflows/config/paper.yaml", str(four))
    block = _job_block(proc.stdout, "train")
    job = SimpleNamespace(resources=_JobResources(_resources(block)), threads=32)
    params = {"run_uuid": "u", "slurm_logfile": "log", "comment_str": "rule_train", "account": "-A 'project'",
              "partition": "-p 'gpu'", "workdir": str(wf)}
    sbatch = (get_submit_command(job, params, settings=None) + set_gres_string(job)).split()
    runtime = int(sbatch[sbatch.index("-t") + 1])
    assert 0 < runtime <= 48 * 60  # minutes: a 48-hour partition (MaxTime) accepts it
    assert "--nodes=1" in sbatch and "--gpus=4" in sbatch  # all four on the node torchrun --standalone runs on
    assert "--cpus-per-gpu=8" in sbatch and not any(arg.startswith("--cpus-per-task") for arg in sbatch)
    assert sbatch[sbatch.index("--mem") + 1] == str(4 * 16000)  # host memory for each of the 4 ranks
    # 8 threads for each of the 4 ranks, not 32 each; the ranks run on GPUs of their own
    assert "export OMP_NUM_THREADS=8 MKL_NUM_THREADS=8; repro gpus 4 -- torchrun --standalone --nproc_per_node 4 " in block


def test_a_training_job_shares_its_threads_among_its_ranks(wf: Path, snakemake) -> None:
    config = wf / "two-ranks.yaml"
    config.write_text("resources:\n  train_gpus: 2\n  train_threads: 3\n  train_retries: 4\n"
                      "  train_runtime_min: 240\n", encoding="utf-8")
    proc = snakemake(wf, "-n", "-p", "--cores", "8", "--configfile", "workflows/config/tiny.yaml", str(config))
    block = _job_block(proc.stdout, "train")
    # tiny.yaml trains on the CPU: two gloo ranks, no GPU asked for, 3 threads each of the job's 6
    assert "export OMP_NUM_THREADS=3 MKL_NUM_THREADS=3; torchrun --standalone --nproc_per_node 2 " in block
    assert _resources(block)["gpu"] == 0 and _resources(block)["runtime"] == 240
    capped = snakemake(wf, "-n", "-p", "--cores", "2", "--configfile", "workflows/config/tiny.yaml", str(config))
    assert "export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1; torchrun" in _job_block(capped.stdout, "train")  # 2 cores, 2 ranks


def _decode_jobs(stdout: str) -> dict[str, list[str]]:
    """The dry run's translate and perplexity jobs, each as its block of lines (resources, shell command)."""
    jobs: dict[str, list[str]] = {"translate": [], "perplexity": []}
    for block in stdout.split("\n\n"):
        for rule in jobs:
            if f"rule {rule}:" in block:
                jobs[rule].append(block)
    return jobs


def test_decode_section_reaches_translate_and_perplexity_as_their_step_config(wf: Path, snakemake,
                                                                             job_counts) -> None:
    from repro.config import load_config
    from repro.inference.config import DecodeConfig

    # Both read the decode: section from one step config; no command re-spells a decode: value as a flag.
    plain = snakemake(wf, "-n", "-p", "--cores", "2").stdout
    jobs = _decode_jobs(plain)
    assert jobs["translate"] and jobs["perplexity"]
    for block in jobs["translate"] + jobs["perplexity"]:
        assert "--config work/demo/config/decode.yaml" in block
        assert "gpu=0" in block  # the demo decodes on the CPU
    for flag in ("--bf16", "--device", "--batch-size", "--max-len", "--length-norm"):
        assert flag not in plain, flag
    # The step config holds the decode: section as given (here on the command line), and the commands
    # build from it the DecodeConfig the workflow validated: the settings that reach the search.
    given = "decode={batch_size: 100, device: cpu, bf16: true}"
    assert job_counts(snakemake(wf, "-n", "--cores", "2", "--config", given).stdout) == job_counts(plain)
    snakemake(wf, "work/demo/config/decode.yaml", "--cores", "1", "--config", given)
    written = load_config(wf / "work/demo/config/decode.yaml", reads=("decode",))
    assert set(written) == {"experiment", "decode"}
    assert DecodeConfig.from_dict(written["decode"]) == DecodeConfig(batch_size=100, device="cpu", bf16=True)
    # decode.device other than cpu (auto included: CUDA wherever there is one) asks for a GPU.
    auto = snakemake(wf, "-n", "--cores", "2", "--config", "decode={batch_size: 100, device: auto}").stdout
    jobs = _decode_jobs(auto)
    assert all("gpu=1" in block for block in jobs["translate"] + jobs["perplexity"])


def test_schema_checks_decode_bf16() -> None:
    config = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    config["decode"]["bf16"] = True
    validate(config, str(SCHEMA))
    config["decode"]["bf16"] = "yes"
    with pytest.raises(WorkflowError) as info:
        validate(config, str(SCHEMA))
    assert "bf16" in str(info.value)


@pytest.mark.parametrize(("section", "typo", "message"), [
    ("train", "lrr: 0.1", "unknown key(s) lrr (did you mean 'lr'?)"),
    ("decode", "beam_sise: 3", "config section 'decode': unknown key(s) beam_sise"),
    ("model", "hidden_size: abc", "model.hidden_size: expected an integer, got 'abc'"),
])
def test_dry_run_catches_a_typo_in_any_section_before_anything_runs(wf: Path, section: str, typo: str, message: str, snakemake) -> None:
    config = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    config[section] = {**config.get(section, {}), **yaml.safe_load(typo)}
    bad = wf / "typo.yaml"
    bad.write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = snakemake(wf, "-n", "--cores", "1", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (wf / "work").exists()


def test_multi30k_dry_run_plans_the_download_unless_a_local_copy_is_given(wf: Path, tmp_path: Path, snakemake, job_counts) -> None:
    config = "workflows/config/multi30k.yaml"
    counts = job_counts(snakemake(wf, "-n", "--cores", "2", "--configfile", config).stdout)
    assert counts["fetch"] == 1 and counts["prepare"] == 1
    local = tmp_path / "copy"
    local.mkdir()
    override = wf / "local.yaml"
    override.write_text(yaml.safe_dump({"data": {"multi30k": {"local_dir": str(local)}}}), encoding="utf-8")
    counts = job_counts(snakemake(wf, "-n", "--cores", "2", "--configfile", config, str(override)).stdout)
    assert "fetch" not in counts and counts["prepare"] == 1
    override.write_text(yaml.safe_dump({"data": {"multi30k": {"local_dir": str(tmp_path / "nope")}}}))
    proc = snakemake(wf, "-n", "--cores", "2", "--configfile", config, str(override), check=False)
    assert proc.returncode != 0 and "local_dir is not a directory" in proc.stdout + proc.stderr


def test_schema_sections_are_the_config_sections() -> None:
    from repro.config import SECTIONS

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    assert list(schema["properties"]) == list(SECTIONS)
    assert schema["additionalProperties"] is False


def test_estimate_target_runs_repro_estimate_on_the_experiment_and_is_not_part_of_all(wf: Path, snakemake, job_counts) -> None:
    proc = snakemake(wf, "-n", "-p", "--cores", "3", "estimate")
    counts = job_counts(proc.stdout)
    assert counts.get("estimate") == 1 and "train" not in counts  # it measures; it trains nothing
    assert ("repro estimate --config work/demo/config/estimate.yaml --data work/demo/data --cores 3 "
            "--json work/demo/estimate.json") in proc.stdout
    assert "estimate" not in job_counts(snakemake(wf, "-n", "--cores", "2").stdout)
    snakemake(wf, "--cores", "1", "work/demo/config/estimate.yaml")  # the step config: every section it reads
    sections = yaml.safe_load((wf / "work/demo/config/estimate.yaml").read_text(encoding="utf-8"))
    assert set(sections) == {"experiment", "data", "model", "train", "decode", "paper", "ablations", "resources"}


def test_conda_environment_installs_what_pyproject_asks_for_from_current_channels() -> None:
    # The rules' conda env and `pip install -e ".[test]"` install the same packages with the same lower
    # bounds; PyTorch comes from conda-forge, since the pytorch channel has published no build after 2.5.
    import re
    import tomllib

    from packaging.requirements import Requirement

    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    assert env["channels"] == ["conda-forge", "bioconda", "nodefaults"]
    conda_names = {"torch": "pytorch"}
    listed: dict[str, str] = {}
    for entry in env["dependencies"]:
        for spec in entry["pip"] if isinstance(entry, dict) else [entry]:
            if not spec.startswith("-e"):
                name, version = re.fullmatch(r"([\w.-]+)\s*(.*)", spec).groups()
                listed[name] = version
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for line in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(line)
        name = conda_names.get(requirement.name, requirement.name)
        assert name in listed, f"environment.yml lacks {name} (pyproject.toml: {line})"
        assert listed[name] == str(requirement.specifier), f"{name}: {listed[name]!r} vs pyproject.toml's {line!r}"
    assert {"-e ."} <= {spec for entry in env["dependencies"] if isinstance(entry, dict) for spec in entry["pip"]}
