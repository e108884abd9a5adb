# Step 4b: the records every report reads (repro.records; LAYOUT.records, work/<exp>/records/): the test
# set, each finished run and Figure 2's encoder states. Translations, scores and perplexities are written
# there by their own rules. Each record carries the fingerprint of the settings behind it (a param, so a
# changed setting remakes it); a report reads a valid record from records_from instead where the work
# directory has none, and then nothing upstream of it runs. The data and run records are small copies,
# made in the Snakemake process itself (local rules, `run:`), not by a job that starts Python again.

from repro.records import write_data_record, write_run_record


localrules:
    record_data,
    record_run,


rule record_data:
    """The test set as the reports read it: its references (detokenized and Moses-tokenized) and, per
    source sentence, its length and the average frequency rank of its words (§3.7, Figure 3)."""
    input:
        data=LAYOUT.data_dir,
    output:
        record=LAYOUT.records.data,
        references=[LAYOUT.records.references(tokenized) for tokenized in (False, True)],
    params:
        fingerprint=RECORD_PLAN.data().fingerprint,
    log:
        LAYOUT.log("record", "data"),
    run:
        write_data_record(input.data, LAYOUT.records, params.fingerprint)
        Path(log[0]).write_text(f"recorded {input.data} in {output.record}\n", encoding="utf-8")


rule record_run:
    """A finished run: its run.json (why it stopped, where its best checkpoint is, what it cost) and its
    learning curves (every validation; learning rate and gradient norm per training interval)."""
    input:
        run=LAYOUT.run_dir("{run}"),
    output:
        record=LAYOUT.records.run("{run}"),
        curve=LAYOUT.records.train_curve("{run}"),
    params:
        fingerprint=lambda wildcards: RECORD_PLAN.run(PLAN.runs[wildcards.run]).fingerprint,
    log:
        LAYOUT.log("record", "{run}"),
    wildcard_constraints:
        run=one_of(PLAN.runs),
    run:
        write_run_record(input.run, wildcards.run, LAYOUT.records, params.fingerprint)
        Path(log[0]).write_text(f"recorded {input.run} in {output.record}\n", encoding="utf-8")


rule record_figure2:
    """§3.8, Figure 2's input: the final encoder state of the single reversed model for each phrase."""
    input:
        run=LAYOUT.run_dir(RECORD_PLAN.figure2_run().name),
        config=step_config("prepare"),
    output:
        record=LAYOUT.records.figure2,
    params:
        out=lambda wildcards, output: Path(output.record).parent,  # figure2.json is at the records' root
        fingerprint=RECORD_PLAN.figure2().fingerprint,
    log:
        LAYOUT.log("record", "figure2"),
    conda:
        "../../environment.yml"
    shell:
        "repro record figure2 {input.run} --config {input.config} --out {params.out}"
        " --fingerprint {params.fingerprint} > {log} 2>&1"


# One target per part of the experiment (repro.experiments.Plan.parts): `snakemake part_paper`, `part_cell`,
# ... make the records of that part only, so that a sitting (or a machine) trains one part, with every run
# its ensembles need; `snakemake estimate` projects each part's time.
for part in PLAN.parts().values():

    rule:
        name:
            f"part_{part.name}"
        input:
            record_files(RECORD_PLAN.part(part)),
        localrule: True
        default_target: False
