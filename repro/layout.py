"""Where an experiment's files live: the one place every path of the workflow and the reports is named.

The Snakefile asks these classes for its paths (passing wildcard patterns such as ``"{run}"`` where a
rule matches many files), and the ``repro report`` command reads the same paths, so a rule and the code
that reads its output cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

AUDIT_RECORD = "audit.json"  # what `repro audit --out DIR` writes in DIR


def root_of(path: str, name: str) -> str:
    """The root of the layout in which ``path`` is the file ``name`` (that layout's path for it under the root
    "", e.g. ``Layout("").step_config("report")``). A workflow job locates its directories from its own files
    this way, so that they follow the files wherever an executor puts them."""
    path, name = str(path), name.lstrip("/")
    if path == name:
        return "."
    if not path.endswith("/" + name):
        raise ValueError(f"{path} is not the file {name} of a layout")
    return path[: -len(name) - 1]


@dataclass(frozen=True)
class ExperimentDirs:
    """An experiment's top-level directories, relative to the workflow's directory.

    work: intermediates (data, runs, translations, scores), regenerable, not committed.
    results: this run's tables, figures, claims and its comparison with the reference, not committed.
    reference: the committed results of the experiment, which a fresh run is compared with.
    """

    work: str
    results: str
    reference: str

    @classmethod
    def of(cls, experiment: str, reference: str | None = None) -> ExperimentDirs:
        """``reference``: the experiment whose committed results this one is checked against (itself by default)."""
        return cls(f"work/{experiment}", f"results/{experiment}", f"results/reference/{reference or experiment}")


@dataclass(frozen=True)
class Layout:
    """The intermediate files of an experiment (``work/<experiment>/``).

    ``run``, ``decoder`` and ``search`` are names from ``repro.experiments.plan`` (a run's name, a decoder's
    name, a system's search such as ``beam12``) or Snakemake wildcard patterns.
    """

    root: str

    @property
    def data_dir(self) -> str:
        """The prepared data directory (written whole by ``repro prepare``)."""
        return f"{self.root}/data"

    @property
    def fetched(self) -> str:
        """The record of a source's downloads (``repro fetch``)."""
        return f"{self.root}/fetched.json"

    @property
    def estimate(self) -> str:
        """What the experiment costs on the machine that ran ``snakemake estimate`` (``repro estimate --json``)."""
        return f"{self.root}/estimate.json"

    def step_config(self, step: str) -> str:
        """The part of the experiment config that one step's command reads."""
        return f"{self.root}/config/{step}.yaml"

    def log(self, step: str, name: str | None = None) -> str:
        return f"{self.root}/logs/{step}{'' if name is None else '/' + name}.log"

    def run_dir(self, run: str) -> str:
        """A finished run (run.json, log.jsonl, checkpoints/, data/)."""
        return f"{self.root}/runs/{run}"

    def partial_run_dir(self, run: str) -> str:
        """Where a run trains until it finishes; a killed job's next attempt resumes from it."""
        return f"{self.root}/runs-partial/{run}"

    def audit_dir(self, run: str) -> str:
        """Where ``repro audit`` continues a finished run at its final rate (the run is only read)."""
        return f"{self.root}/audit/{run}"

    def audit(self, run: str) -> str:
        """The convergence audit's record of a run (``repro.train.audit.AuditResult``)."""
        return f"{self.audit_dir(run)}/{AUDIT_RECORD}"

    @property
    def records(self) -> RecordsLayout:
        """What the reports read (``repro.records``): the steps write their results there."""
        return RecordsLayout(f"{self.root}/{RECORDS}")

    def encoding(self, run: str) -> str:
        return f"{self.root}/encode/{run}.npz"


RECORDS = "records"  # in a work directory, a results directory and a committed reference


@dataclass(frozen=True)
class RecordsLayout:
    """The records of an experiment (``repro.records``), in a work directory's ``records/``, a results
    directory's and a committed reference's: small text files, the same names in each.

    data.json, test.ref.txt, test.ref.tok.txt   the test set: references, per-sentence source features
    runs/<run>.json, runs/<run>.train.tsv        a run's run.json and learning curves
    systems/<decoder>/<search>.json, .txt, .tok.txt   a system's scores and its translations as scored
    perplexity/<run>.json                        a run's test perplexity
    figure2.json                                 Figure 2's encoder states
    audit/<run>.json                             a run's convergence audit (``snakemake audit``)
    """

    root: str = ""  # "": the names relative to a records directory

    def _at(self, name: str) -> str:
        return f"{self.root}/{name}" if self.root else name

    @property
    def data(self) -> str:
        return self._at("data.json")

    def references(self, tokenized: bool = False) -> str:
        """The test split's references (detokenized, or Moses-tokenized for the paper's BLEU)."""
        return self._at(f"test.ref{'.tok' if tokenized else ''}.txt")

    def run(self, run: str) -> str:
        return self._at(f"runs/{run}.json")

    def train_curve(self, run: str) -> str:
        return self._at(f"runs/{run}.train.tsv")

    def translation(self, decoder: str, search: str, tokenized: bool = False) -> str:
        """1-best translations of the test split (detokenized, or Moses-tokenized for the paper's BLEU)."""
        return self._at(f"systems/{decoder}/{search}{'.tok' if tokenized else ''}.txt")

    def scores(self, decoder: str, search: str) -> str:
        return self._at(f"systems/{decoder}/{search}.json")

    def perplexity(self, run: str) -> str:
        return self._at(f"perplexity/{run}.json")

    @property
    def figure2(self) -> str:
        return self._at("figure2.json")

    def audit(self, run: str) -> str:
        return self._at(f"audit/{run}.json")


# Names inside a results directory (and inside its committed reference, which has the same layout).
TABLES, FIGURES, CLAIMS, COMPARISON, PROVENANCE = "tables", "figures", "claims", "comparison", "provenance.json"
RUNS = "runs"
AUDIT = "convergence_audit"


@dataclass(frozen=True)
class ResultsLayout:
    """The final outputs of an experiment (``results/<experiment>/``); a table or figure path is a prefix
    to which the writer adds its formats (.csv/.md/.tex, .png/.pdf)."""

    root: str

    @property
    def tables(self) -> str:
        return f"{self.root}/{TABLES}"

    @property
    def figures(self) -> str:
        return f"{self.root}/{FIGURES}"

    def table(self, name: str) -> str:
        return f"{self.tables}/{name}"

    def figure(self, name: str) -> str:
        return f"{self.figures}/{name}"

    @property
    def claims(self) -> str:
        """Prefix of claims.md (the rendered table) and claims.json (the data)."""
        return f"{self.root}/{CLAIMS}"

    @property
    def runs(self) -> str:
        """Prefix of runs.csv/.md/.tex: every trained model's evidence (why it stopped, where, how fast)."""
        return f"{self.root}/{RUNS}"

    @property
    def audit(self) -> str:
        """Prefix of convergence_audit.csv/.md/.tex: every run continued at its final rate (``snakemake audit``)."""
        return f"{self.root}/{AUDIT}"

    @property
    def comparison(self) -> str:
        """Prefix of comparison.md and comparison.json."""
        return f"{self.root}/{COMPARISON}"

    @property
    def provenance(self) -> str:
        return f"{self.root}/{PROVENANCE}"

    @property
    def records(self) -> str:
        """Every record behind these results (``repro.records``), gathered by ``repro report compare``."""
        return f"{self.root}/{RECORDS}"
