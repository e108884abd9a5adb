# The run checked against the experiment's committed reference (results/reference/<experiment>/):
# provenance.json (platform and code of this run), comparison.json and comparison.md.


rule compare_reference:
    """Compare every headline number and verdict of this run with the committed reference."""
    input:
        config=step_config("report"),
        outputs=PAPER_OUTPUTS + ablation_outputs(),
        runs=lambda wildcards: [LAYOUT.run_dir(run) for run in PLAN.runs],
        reference=reference_files,
    output:
        md=report(f"{RESULTS}/comparison.md", caption="../report/comparison.rst", category="Reference check"),
        json=f"{RESULTS}/comparison.json",
        provenance=f"{RESULTS}/provenance.json",
    params:
        # work/<experiment> and results/<experiment>, from this job's own paths; the reference is the
        # command's default, results/reference/<experiment>
        work=lambda wildcards, input: Path(input.config).parents[1],
        results=lambda wildcards, output: Path(output.md).parent,
    log:
        f"{LOGS}/report/compare.log",
    conda:
        "../../environment.yml"
    shell:
        "repro report compare --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"
