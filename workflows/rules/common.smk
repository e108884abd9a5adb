# Included first by the Snakefile: config validation, the output layout, and the per-step config
# files. Functions only; the rules live in the Snakefile and in one .smk file per step.

from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from repro.errors import ReproError
from repro.experiment_config import validate_experiment_config
from repro.experiments import ExperimentDirs, Layout, runs_of_decoder
from repro.inference.config import DecodeConfig
from repro.report.ablation_report import AXES

min_version("8.0")


validate(config, "../schemas/config.schema.yaml")
# Every section checked by the dataclass of the command that reads it, once as written and once per
# planned run: a typo anywhere fails here, at `snakemake -n`, before any job runs.
try:
    # Which models are trained and which systems decoded: the same plan the report reads.
    PLAN = validate_experiment_config(config)
    DECODE = DecodeConfig.from_dict(config.get("decode"))
except ReproError as exc:
    raise WorkflowError(f"invalid experiment config: {exc}") from None

EXP = config["experiment"]
DIRS = ExperimentDirs.of(EXP)
WORK = DIRS.work  # intermediates, regenerable, not committed
RESULTS = DIRS.results  # this run's tables, figures, claims and comparison, not committed
REFERENCE = DIRS.reference  # the committed results this run is compared with
LOGS = f"{WORK}/logs"  # one log per job: {LOGS}/<step>[/<name>].log
LAYOUT = Layout(WORK)
DATA_DIR = LAYOUT.data_dir  # written by `repro prepare`, whole and atomically
RESOURCES = config.get("resources", {})

# The config sections each step reads. A step's command gets a config file holding exactly those
# sections (plus `experiment`), so editing one section reruns only the steps that read it, and values
# given with `snakemake --config ...` reach the repro commands too. A rule file for a new step adds
# its entry here, e.g. STEP_SECTIONS["train"] = ["model", "train"], and takes step_config("train")
# as an input.
STEP_SECTIONS = {"prepare": ["data"]}


def step_config(step):
    """Path of the config file that the command of ``step`` reads (made by rule step_config)."""
    return f"{WORK}/config/{step}.yaml"


def step_config_content(step):
    """The part of the experiment config that ``step`` reads, as written to step_config(step)."""
    if step not in STEP_SECTIONS:
        raise WorkflowError(
            f"no config sections registered for step {step!r}; known steps: "
            f"{', '.join(sorted(STEP_SECTIONS))} (add it to STEP_SECTIONS in workflows/rules/common.smk)"
        )
    content = {"experiment": EXP}
    content.update({name: config[name] for name in STEP_SECTIONS[step] if name in config})
    return content


def write_yaml(path, content):
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(content, handle, sort_keys=False)


# ---- helpers of the rule files (prepare, train, decode, paper, ablations, reference)


def fetched_record():
    """The record of rule fetch when the data source downloads (so a dry run shows the download), else nothing."""
    from repro.data.prepare import PrepareConfig
    from repro.data.sources import make_source

    return [f"{WORK}/fetched.json"] if make_source(PrepareConfig.from_dict(config["data"])).downloads else []



def train_overrides(wildcards):
    return " ".join(f"--set {arg}" for arg in PLAN.runs[wildcards.run].override_args())


def train_launcher():
    gpus = int(RESOURCES.get("train_gpus", 1))
    if gpus > 1:
        return f"torchrun --standalone --nproc_per_node {gpus} -m repro.cli train"
    return "repro train"


def decode_bf16_flag():
    return " --bf16" if DECODE.bf16 else ""


def decode_runs(wildcards):
    """Run directories decoded together for a system: one run, or an ensemble's runs (by name)."""
    runs = runs_of_decoder(wildcards.system)
    unknown = [run for run in runs if run not in PLAN.runs]
    if unknown:
        raise WorkflowError(f"system {wildcards.system!r} names runs the experiment does not train: {', '.join(unknown)}")
    return [f"{WORK}/runs/{run}" for run in runs]


def system_scores(systems):
    return [LAYOUT.scores(s) for s in systems]


def paper_systems():
    """Every system the paper's tables and figures read."""
    return [s for s in PLAN.systems.values() if any(r in PLAN.runs and PLAN.runs[r].variant in ("reversed", "forward")
                                                    for r in s.runs)]


def paper_run_dirs():
    return sorted({LAYOUT.run_dir(r) for s in paper_systems() for r in s.runs})


def paper_report_inputs(wildcards=None):
    return {
        "config": step_config("report"),
        "data": DATA_DIR,
        "runs": paper_run_dirs(),
        "scores": system_scores(paper_systems()),
        "translations": [LAYOUT.translation(s, tokenized=True) for s in paper_systems()],
        "perplexity": [LAYOUT.perplexity(r.name) for r in PLAN.runs.values()
                       if r.variant in ("reversed", "forward")],
    }


def report_table(name, caption, subcategory):
    return report(f"{RESULTS}/tables/{name}.csv", caption=f"../report/{caption}.rst", category="Paper",
                  subcategory=subcategory, labels={"table": name})


def ablation_systems():
    seeds = set(PLAN.ablations["seeds"])
    beam = PLAN.ablations["beam"]
    return [s for s in PLAN.systems.values() if s.beam == beam and len(s.runs) == 1
            and PLAN.runs[s.runs[0]].seed in seeds]


def ablation_axes():
    return [axis for axis in AXES if any(v.axis == axis for v in PLAN.variants.values())]


def ablation_outputs():
    if not PLAN.ablations["enabled"]:
        return []
    outputs = [f"{RESULTS}/tables/ablation_{axis}.csv" for axis in ablation_axes()]
    outputs += [f"{RESULTS}/figures/ablation_length.png", f"{RESULTS}/claims.md"]
    if any(v.axis == "cell" for v in PLAN.variants.values()):
        outputs.append(f"{RESULTS}/figures/grad_norms.png")
    return outputs


def reference_files(wildcards=None):
    """The committed reference's files, so that a changed reference reruns the comparison (none: no reference)."""
    reference = Path(REFERENCE)
    files = sorted(reference.glob("tables/*.csv"))
    files += [reference / name for name in ("claims.json", "provenance.json") if (reference / name).is_file()]
    return [str(path) for path in files]


def print_comparison():
    """Print the run's comparison with the committed reference (without the list of differing cells);
    False when the experiment has not reached it (a run of some targets only)."""
    comparison = Path(RESULTS) / "comparison.md"
    if not comparison.is_file():
        return False
    text = comparison.read_text(encoding="utf-8").split("\n## Different numbers", 1)[0].rstrip()
    print(f"\n{text}")
    return True
