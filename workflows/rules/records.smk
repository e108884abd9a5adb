# Step 4b: the records every report reads (repro.records; LAYOUT.records, work/<exp>/records/): the test
# set, each finished run and Figure 2's encoder states. Translations, scores and perplexities are written
# there by their own rules. Each record carries the fingerprint of the settings behind it (a param, so a
# changed setting remakes it); a report reads a valid record from records_from instead where the work
# directory has none, and then nothing upstream of it runs. Each is a `repro record` job (jobs run in
# parallel; a `run:` block is run one at a time, each by a new Snakemake process, which costs more).

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
        out=root_param("output", "record", RecordsLayout().data),
    log:
        LAYOUT.log("record", "data"),
    conda:
        "../../environment.yml"
    shell:
        "repro record data {input.data} --out {params.out} --fingerprint {params.fingerprint} > {log} 2>&1"


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
        out=root_param("output", "record", lambda wildcards: RecordsLayout().run(wildcards.run)),
    log:
        LAYOUT.log("record", "{run}"),
    wildcard_constraints:
        run=one_of(PLAN.runs),
    conda:
        "../../environment.yml"
    shell:
        "repro record run {input.run} --name {wildcards.run} --out {params.out}"
        " --fingerprint {params.fingerprint} > {log} 2>&1"


rule record_figure2:
    """§3.8, Figure 2's input: the final encoder state of the single reversed model for each phrase."""
    input:
        run=LAYOUT.run_dir(RECORD_PLAN.figure2_run().name),
        config=step_config("prepare"),
    output:
        record=LAYOUT.records.figure2,
    params:
        out=root_param("output", "record", RecordsLayout().figure2),
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
