# Included first by the Snakefile: config validation, the experiment's plan and paths, the per-step
# config files. Functions only; the rules live in one .smk file per step of the method.

import re
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from repro.errors import ReproError
from repro.data.config import make_source
from repro.experiment_config import ExperimentConfig
from repro.experiments import plan
from repro.layout import PROVENANCE, ExperimentDirs, Layout, RecordsLayout, ResultsLayout, root_of
from repro.records import RecordPlan, RecordStore, record_roots
from repro.report.outputs import REPORTS, complete_run

min_version("8.0")


validate(config, "../schemas/config.schema.yaml")
# The config parsed once: every section by the dataclass of the command that reads it, and every planned
# run's settings: a typo anywhere fails here, at `snakemake -n`, before any job runs.
try:
    EXPERIMENT = ExperimentConfig.from_dict(config)
    SOURCE = make_source(EXPERIMENT.data)  # the data source, its local files checked
    # Which models are trained and which systems decoded: the same plan the report reads.
    PLAN = plan(EXPERIMENT)
except ReproError as exc:
    raise WorkflowError(f"invalid experiment config: {exc}") from None
DECODE, RESOURCES = EXPERIMENT.decode, EXPERIMENT.resources

EXP = EXPERIMENT.experiment
DIRS = ExperimentDirs.of(EXP, EXPERIMENT.reference)
LAYOUT = Layout(DIRS.work)  # intermediates, regenerable, not committed
RESULTS = ResultsLayout(DIRS.results)  # this run's tables, figures, claims and comparison, not committed
REFERENCE = ResultsLayout(DIRS.reference)  # the committed results this run is compared with
# The records the reports read, each with the fingerprint of its settings (repro.records), and where valid
# copies are looked up: the work directory's records/, then the config's records_from.
RECORD_PLAN = RecordPlan(EXPERIMENT, PLAN)
RECORD_STORE = RecordStore(record_roots(EXPERIMENT, LAYOUT))

# The config sections each step reads. A step's command gets a config file holding exactly those
# sections (plus `experiment`), so editing one section reruns only the steps that read it, and values
# given with `snakemake --config ...` reach the repro commands too.
STEP_SECTIONS = {
    "prepare": ["data"],
    "train": ["model", "train"],
    "decode": ["decode"],
    "report": ["data", "model", "train", "decode", "paper", "ablations", "records_from"],
    "estimate": ["data", "model", "train", "decode", "paper", "ablations", "resources"],
}


def step_config(step):
    """Path of the config file that the command of ``step`` reads (made by rule step_config)."""
    return LAYOUT.step_config(step)


def step_config_content(step):
    """The part of the experiment config that ``step`` reads, as written to step_config(step)."""
    if step not in STEP_SECTIONS:
        raise WorkflowError(
            f"no config sections registered for step {step!r}; known steps: "
            f"{', '.join(sorted(STEP_SECTIONS))} (add it to STEP_SECTIONS in workflows/rules/common.smk)"
        )
    content = {"experiment": EXP}
    content.update({name: config[name] for name in STEP_SECTIONS[step] if name in config})
    return _keys_sorted(content)


def _keys_sorted(value):
    """``value`` with every mapping's keys in sorted order (lists keep theirs): Snakemake compares params
    as written, so a config whose keys are only reordered must give the same content, or it reruns all."""
    if isinstance(value, dict):
        return {key: _keys_sorted(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list):
        return [_keys_sorted(item) for item in value]
    return value


def root_param(io, key, name):
    """A param function: the root of the layout whose file ``name`` (repro.layout.root_of; a function of the
    wildcards where the name has some) is the job's input or output ``key``. Derived from the job's own files,
    as Snakemake asks, so it follows them on an executor that moves them (remote storage)."""

    def param(wildcards, input, output):
        files = input if io == "input" else output
        return root_of(files[key], name(wildcards) if callable(name) else name)

    return param


WORK_ROOT = root_param("input", "config", Layout("").step_config("report"))  # work/<exp> of a report job


def one_of(names):
    """A wildcard constraint matching exactly ``names`` (the plan's runs or decoders)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def write_yaml(path, content):
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(content, handle, sort_keys=False)


# ---- helpers of the rule files


def fetched_record():
    """The record of rule fetch when the data source downloads (so a dry run shows the download), else nothing."""
    return [LAYOUT.fetched] if SOURCE.downloads else []


def train_overrides(wildcards):
    return " ".join(f"--set {arg}" for arg in PLAN.runs[wildcards.run].override_args())


def train_launcher():
    if RESOURCES.train_ranks > 1:
        return f"torchrun --standalone --nproc_per_node {RESOURCES.train_ranks} -m repro.cli train"
    return "repro train"


def train_job_gpus(wildcards):
    """GPUs of a run's training job: resources.train_gpus unless its train.device pins the CPU."""
    return 0 if PLAN.setting(PLAN.runs[wildcards.run].variant, "train.device") == "cpu" else RESOURCES.train_gpus


def threads_per_rank(wildcards, threads):
    """OMP_NUM_THREADS of each training process: the job's threads (capped by --cores locally) shared
    among its ranks, so that N ranks do not run N times the job's threads."""
    return max(1, threads // RESOURCES.train_ranks)


def on_gpus(count):
    """The prefix that runs a job's command on ``count`` GPUs of its own (`repro gpus`: sets
    CUDA_VISIBLE_DEVICES where no scheduler did, so that local jobs do not all land on cuda:0)."""
    return f"repro gpus {count} -- " if count else ""


def decode_gpus():
    """GPUs of a decoding job (translate, perplexity): one unless decode.device pins the CPU. `auto` asks for
    one too, as train does for train.device: it decodes on CUDA wherever there is a GPU, so a job that may
    land on a GPU node must own that GPU (and is counted against `--resources gpu=N` locally)."""
    return 0 if DECODE.device == "cpu" else 1


def planned_system(wildcards):
    """The plan's system that a translate or score job decodes (``{decoder}/{search}``)."""
    return PLAN.systems[f"{wildcards.decoder}/{wildcards.search}"]


SEARCHES = sorted({system.search for system in PLAN.systems.values()})


def decoder_runs(wildcards):
    """Run directories decoded together: one run, or an ensemble's runs (the plan's decoder)."""
    if wildcards.decoder not in PLAN.decoders:
        raise WorkflowError(f"{wildcards.decoder!r} is not a decoder of experiment {EXP!r}")
    return [LAYOUT.run_dir(run.name) for run in PLAN.decoders[wildcards.decoder].runs]


def record_files(records):
    """The files of ``records`` (repro.records.Record): the first valid copy's (the work directory's, then
    each records_from directory's in turn), else the work directory's, which the workflow makes."""
    files = []
    for record in records:
        root = RECORD_STORE.find(record) or LAYOUT.records.root
        files += [f"{root}/{name}" for name in record.files]
    return files


def shown_in_report(file):
    """A report output (repro.report.outputs.OutputFile) as a rule's output: marked for `snakemake --report` when
    it is shown there."""
    if file.shown is None:
        return file.path
    shown = file.shown
    return report(file.path, caption=f"../report/{shown.caption}", category=shown.category,
                  subcategory=shown.subcategory, labels=dict(shown.labels) or None)


def complete_run_outputs():
    """Every file of the reports of a complete run (what `all` and the reference check wait for)."""
    return [path for output in complete_run(PLAN) for path in output.paths(PLAN, RESULTS)]


def reference_files(wildcards=None):
    """The committed reference's files, so that a changed reference reruns the comparison (none: no reference)."""
    files = sorted(Path(REFERENCE.tables).glob("*.csv"))
    files += [Path(path) for path in (f"{REFERENCE.claims}.json", REFERENCE.provenance) if Path(path).is_file()]
    return [str(path) for path in files]


def print_comparison():
    """Print the run's comparison with the committed reference (without the list of differing cells);
    False when the experiment has not reached it (a run of some targets only)."""
    comparison = Path(f"{RESULTS.comparison}.md")
    if not comparison.is_file():
        return False
    text = comparison.read_text(encoding="utf-8").split("\n## Different numbers", 1)[0].rstrip()
    print(f"\n{text}")
    return True
