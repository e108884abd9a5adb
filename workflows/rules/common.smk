# Included first by the Snakefile: config validation, the output layout, and the per-step config
# files. Functions only; the rules live in the Snakefile and in one .smk file per step.

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("8.0")


validate(config, "../schemas/config.schema.yaml")

EXP = config["experiment"]
WORK = f"work/{EXP}"  # intermediates, regenerable, gitignored
RESULTS = f"results/{EXP}"  # final tables, figures and report, committed
LOGS = f"{WORK}/logs"  # one log per job: {LOGS}/<step>[/<name>].log
DATA_DIR = f"{WORK}/data"  # written by `repro prepare`, whole and atomically

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
