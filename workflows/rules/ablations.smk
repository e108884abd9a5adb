# Ablations and claims (active when config ablations.enabled): one table per axis, BLEU by length per
# variant (with the attention decoder), gradient norms per cell type, and claims.md with verdicts.

rule ablations:
    input:
        config=step_config("report"),
        data=DATA_DIR,
        runs=lambda wildcards: sorted({LAYOUT.run_dir(r) for s in ablation_systems() for r in s.runs}),
        scores=lambda wildcards: [LAYOUT.scores(s) for s in ablation_systems()],
    output:
        [
            report(path, caption="../report/ablations.rst", category="Ablations",
                   labels={"output": Path(path).stem})
            if path.endswith((".csv", ".png")) else path
            for path in ablation_outputs()
        ],
    params:
        # work/<experiment> and results/<experiment>, from this job's own paths
        work=lambda wildcards, input: Path(input.config).parents[1],
        results=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/report/ablations.log",
    conda:
        "../../environment.yml"
    shell:
        "repro report ablations --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"
