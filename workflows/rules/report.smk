# Step 5: the paper's tables and figures, the ablations and their claims, and the check of this run
# against the committed reference, under results/<experiment>/ (each marked for `snakemake --report`).


# One rule per report of repro.report.outputs.REPORTS, named as the report (`snakemake table1`, `snakemake fig3`,
# `snakemake audit`, ...): what it reads, the files it writes and how they are shown in the HTML report are
# declared there, beside the code that writes them. The `audit` report is not part of `all` (it needs
# `snakemake audit`'s runs continued first: workflows/rules/audit.smk).
for report_output in REPORTS.values():
    if not report_output.files(PLAN, RESULTS):  # the config asks for none of it (ablations not enabled)
        continue

    rule:
        name:
            report_output.name
        input:
            config=step_config("report"),
            records=record_files(report_output.reads(RECORD_PLAN)),
        output:
            [shown_in_report(file) for file in report_output.files(PLAN, RESULTS)],
        params:
            target=report_output.name,
            work=WORK_ROOT,
            results=root_param("output", 0, report_output.paths(PLAN, ResultsLayout(""))[0]),
        log:
            LAYOUT.log("report", report_output.name),
        conda:
            "../../environment.yml"
        shell:
            "repro report {params.target} --config {input.config} --work {params.work} --out {params.results}"
            " > {log} 2>&1"

    workflow.get_rule(report_output.name).docstring = report_output.doc


rule compare_reference:
    """Reproducibility check: compare every headline number and verdict of this run with the committed
    reference of the experiment (identical on the reference's platform; elsewhere the same verdicts), and
    gather every record behind this run's results into results/<exp>/records/ (what publish commits)."""
    input:
        config=step_config("report"),
        outputs=complete_run_outputs(),
        records=record_files(RECORD_PLAN.every()),
        reference=reference_files,
    output:
        md=report(f"{RESULTS.comparison}.md", caption="../report/comparison.rst", category="Reference check"),
        json=f"{RESULTS.comparison}.json",
        provenance=RESULTS.provenance,
        records=directory(RESULTS.records),
    params:
        work=WORK_ROOT,
        results=root_param("output", "provenance", PROVENANCE),
        reference=lambda wildcards, input: REFERENCE.root,
    log:
        LAYOUT.log("report", "compare"),
    conda:
        "../../environment.yml"
    shell:
        "repro report compare --config {input.config} --work {params.work} --out {params.results}"
        " --reference {params.reference} > {log} 2>&1"
