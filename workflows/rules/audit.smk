# After a run: did every model converge? `snakemake audit` continues each finished run from its last
# checkpoint at the learning rate it ended with (`repro audit`, in work/<exp>/audit/<run>/; the run itself
# is only read) and tabulates the further gain of validation perplexity in results/<exp>/convergence_audit.
# Not part of `all`: it trains every model a little more. The table is the `audit` report (report.smk).


rule audit_run:
    """Continue one finished run at its final learning rate for 5 validations (`repro audit`'s default)
    and record what its validation perplexity still gains."""
    input:
        run=LAYOUT.run_dir("{run}"),
        data=LAYOUT.data_dir,
    output:
        audit=LAYOUT.audit("{run}"),
        record=LAYOUT.records.audit("{run}"),
    params:
        out=lambda wildcards: LAYOUT.audit_dir(wildcards.run),
        records=root_param("output", "record", lambda wildcards: RecordsLayout().audit(wildcards.run)),
        fingerprint=lambda wildcards: RECORD_PLAN.audit(PLAN.runs[wildcards.run]).fingerprint,
    log:
        LAYOUT.log("audit", "{run}"),
    wildcard_constraints:
        run=one_of(PLAN.runs),
    threads: RESOURCES.train_threads
    resources:
        mem_mb=16000,
        runtime=24 * 60,
    conda:
        "../../environment.yml"
    shell:
        "export OMP_NUM_THREADS={threads}; "
        "repro audit {input.run} --out {params.out} --data {input.data} --quiet > {log} 2>&1"
        " && repro record audit {params.out} --name {wildcards.run} --out {params.records}"
        " --fingerprint {params.fingerprint} >> {log} 2>&1"
