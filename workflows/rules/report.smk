# Step 5: the paper's tables and figures, the ablations and their claims, and the check of this run
# against the committed reference, under results/<experiment>/ (each marked for `snakemake --report`).


rule paper_table:
    """§3.6 Table 1 (single and ensembled LSTMs against beam size), §3.3 the reversal result (perplexity
    and BLEU, forward vs reversed), §3.6 BLEU against beam size, §3.6 Table 2 (rescoring: the paper's
    numbers, not run)."""
    input:
        unpack(paper_report_inputs),
    output:
        csv=report(f"{RESULTS.table('{table}')}.csv", caption="../report/paper_table.rst", category="Paper",
                   subcategory="{table}", labels={"table": "{table}"}),
        md=f"{RESULTS.table('{table}')}.md",
        tex=f"{RESULTS.table('{table}')}.tex",
    params:
        work=work_root,
        results=results_root,
    log:
        LAYOUT.log("report", "{table}"),
    wildcard_constraints:
        table=one_of(PAPER_TABLES),
    conda:
        "../../environment.yml"
    shell:
        "repro report {wildcards.table} --config {input.config} --work {params.work} --out {params.results}"
        " > {log} 2>&1"


rule figure3:
    """§3.7, Figure 3: BLEU of the forward, reversed and ensembled models by source sentence length and by
    the average frequency rank of the source words."""
    input:
        unpack(paper_report_inputs),
    output:
        length=report(f"{RESULTS.figure('fig3_length')}.png", caption="../report/fig3.rst", category="Paper",
                      subcategory="Figure 3", labels={"figure": "fig3_length"}),
        rarity=report(f"{RESULTS.figure('fig3_rarity')}.png", caption="../report/fig3.rst", category="Paper",
                      subcategory="Figure 3", labels={"figure": "fig3_rarity"}),
        other=multiext(RESULTS.figure("fig3_length"), ".pdf", ".csv", ".md", ".tex")
        + multiext(RESULTS.figure("fig3_rarity"), ".pdf", ".csv", ".md", ".tex"),
    params:
        work=work_root,
        results=results_root,
    log:
        LAYOUT.log("report", "fig3"),
    conda:
        "../../environment.yml"
    shell:
        "repro report fig3 --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


rule figure2:
    """§3.8, Figure 2: 2-D PCA of the reversed model's final encoder state for phrases that differ in
    word order or voice."""
    input:
        config=step_config("report"),
        records=record_files([RECORD_PLAN.figure2()]),
    output:
        png=report(f"{RESULTS.figure('fig2_pca')}.png", caption="../report/fig2.rst", category="Paper",
                   subcategory="Figure 2", labels={"figure": "fig2_pca"}),
        pdf=f"{RESULTS.figure('fig2_pca')}.pdf",
    params:
        work=work_root,
        results=results_root,
    log:
        LAYOUT.log("report", "fig2"),
    conda:
        "../../environment.yml"
    shell:
        "repro report fig2 --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


rule ablations:
    """The ablations (sequence length, cell type, depth, teacher forcing, attention vs the fixed-size
    context vector; §3.3 and the published works claims.md cites): one table per axis, BLEU by length per
    variant, gradient norms per cell type, and claims.json/claims.md with a verdict per claim."""
    input:
        unpack(ablation_inputs),
    output:
        [
            report(path, caption="../report/ablations.rst", category="Ablations", labels={"output": Path(path).stem})
            if path.endswith((".csv", ".png"))
            else path
            for path in ablation_outputs()
        ],
    params:
        work=work_root,
        results=results_root,
    log:
        LAYOUT.log("report", "ablations"),
    conda:
        "../../environment.yml"
    shell:
        "repro report ablations --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


rule runs_table:
    """The evidence behind every table: one row per trained model with its variant, seed, stop reason,
    best epoch and validation perplexity, wall time, tokens/s, device and precision."""
    input:
        config=step_config("report"),
        records=run_records(),
    output:
        csv=report(f"{RESULTS.runs}.csv", caption="../report/runs.rst", category="Runs"),
        md=f"{RESULTS.runs}.md",
        tex=f"{RESULTS.runs}.tex",
    params:
        work=work_root,
        results=results_root,
    log:
        LAYOUT.log("report", "runs"),
    conda:
        "../../environment.yml"
    shell:
        "repro report runs --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


rule convergence_figure:
    """The learning curves behind the word 'converged': validation perplexity against epoch for every run
    (one panel per variant, seeds overlaid, best checkpoint and stop marked, stop reason in the legend)
    and the learning rate each run trained at."""
    input:
        config=step_config("report"),
        records=run_records(),
    output:
        png=report(f"{RESULTS.figure('convergence')}.png", caption="../report/convergence.rst", category="Runs",
                   labels={"figure": "convergence"}),
        lr=report(f"{RESULTS.figure('convergence_lr')}.png", caption="../report/convergence.rst", category="Runs",
                  labels={"figure": "convergence_lr"}),
        pdf=multiext(RESULTS.figure("convergence"), ".pdf") + multiext(RESULTS.figure("convergence_lr"), ".pdf"),
    params:
        work=work_root,
        results=results_root,
    log:
        LAYOUT.log("report", "convergence"),
    conda:
        "../../environment.yml"
    shell:
        "repro report convergence --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


rule compare_reference:
    """Reproducibility check: compare every headline number and verdict of this run with the committed
    reference of the experiment (identical on the reference's platform; elsewhere the same verdicts), and
    gather every record behind this run's results into results/<exp>/records/ (what publish commits)."""
    input:
        config=step_config("report"),
        outputs=PAPER_OUTPUTS + ablation_outputs() + [f"{RESULTS.runs}.csv", f"{RESULTS.figure('convergence')}.png"],
        records=record_files(RECORD_PLAN.every()),
        reference=reference_files,
    output:
        md=report(f"{RESULTS.comparison}.md", caption="../report/comparison.rst", category="Reference check"),
        json=f"{RESULTS.comparison}.json",
        provenance=RESULTS.provenance,
        records=directory(RESULTS.records),
    params:
        work=work_root,
        results=results_root,
        reference=lambda wildcards, input: REFERENCE.root,
    log:
        LAYOUT.log("report", "compare"),
    conda:
        "../../environment.yml"
    shell:
        "repro report compare --config {input.config} --work {params.work} --out {params.results}"
        " --reference {params.reference} > {log} 2>&1"
