# The paper regenerated: test perplexity per run, then Table 1, the reversal result, the beam table,
# Figures 2 and 3 and Table 2 under results/<experiment>/, each marked for `snakemake --report`.

STEP_SECTIONS["report"] = ["data", "model", "train", "decode", "paper", "ablations"]


rule table1:
    input:
        unpack(paper_report_inputs),
    output:
        csv=report_table("table1", "table1", "Table 1"),
        md=f"{RESULTS}/tables/table1.md",
        tex=f"{RESULTS}/tables/table1.tex",
    params:
        # work/<experiment> and results/<experiment>, from this job's own paths
        work=lambda wildcards, input: Path(input.config).parents[1],
        results=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/report/table1.log",
    conda:
        "../../environment.yml"
    shell:
        "repro report table1 --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


rule reversal:
    input:
        unpack(paper_report_inputs),
    output:
        csv=report_table("reversal", "reversal", "Reversing the source"),
        md=f"{RESULTS}/tables/reversal.md",
        tex=f"{RESULTS}/tables/reversal.tex",
    params:
        # work/<experiment> and results/<experiment>, from this job's own paths
        work=lambda wildcards, input: Path(input.config).parents[1],
        results=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/report/reversal.log",
    conda:
        "../../environment.yml"
    shell:
        "repro report reversal --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


rule beam_table:
    input:
        unpack(paper_report_inputs),
    output:
        csv=report_table("beam", "beam", "Beam size"),
        md=f"{RESULTS}/tables/beam.md",
        tex=f"{RESULTS}/tables/beam.tex",
    params:
        # work/<experiment> and results/<experiment>, from this job's own paths
        work=lambda wildcards, input: Path(input.config).parents[1],
        results=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/report/beam.log",
    conda:
        "../../environment.yml"
    shell:
        "repro report beam --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


rule figure3:
    input:
        unpack(paper_report_inputs),
    output:
        length=report(f"{RESULTS}/figures/fig3_length.png", caption="../report/fig3.rst", category="Paper",
                      subcategory="Figure 3", labels={"figure": "fig3_length"}),
        rarity=report(f"{RESULTS}/figures/fig3_rarity.png", caption="../report/fig3.rst", category="Paper",
                      subcategory="Figure 3", labels={"figure": "fig3_rarity"}),
        other=multiext(f"{RESULTS}/figures/fig3_length", ".pdf", ".csv", ".md", ".tex")
        + multiext(f"{RESULTS}/figures/fig3_rarity", ".pdf", ".csv", ".md", ".tex"),
    params:
        # work/<experiment> and results/<experiment>, from this job's own paths
        work=lambda wildcards, input: Path(input.config).parents[1],
        results=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/report/fig3.log",
    conda:
        "../../environment.yml"
    shell:
        "repro report fig3 --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


rule figure2:
    input:
        unpack(paper_report_inputs),
    output:
        png=report(f"{RESULTS}/figures/fig2_pca.png", caption="../report/fig2.rst", category="Paper",
                   subcategory="Figure 2", labels={"figure": "fig2_pca"}),
        pdf=f"{RESULTS}/figures/fig2_pca.pdf",
    params:
        # work/<experiment> and results/<experiment>, from this job's own paths
        work=lambda wildcards, input: Path(input.config).parents[1],
        results=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/report/fig2.log",
    conda:
        "../../environment.yml"
    shell:
        "repro report fig2 --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


rule table2:
    input:
        config=step_config("report"),
    output:
        csv=report_table("table2", "table2", "Table 2"),
        md=f"{RESULTS}/tables/table2.md",
        tex=f"{RESULTS}/tables/table2.tex",
    params:
        # work/<experiment> and results/<experiment>, from this job's own paths
        work=lambda wildcards, input: Path(input.config).parents[1],
        results=lambda wildcards, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/report/table2.log",
    conda:
        "../../environment.yml"
    shell:
        "repro report table2 --config {input.config} --work {params.work} --out {params.results} > {log} 2>&1"


PAPER_OUTPUTS = [
    f"{RESULTS}/tables/table1.csv",
    f"{RESULTS}/tables/reversal.csv",
    f"{RESULTS}/tables/beam.csv",
    f"{RESULTS}/tables/table2.csv",
    f"{RESULTS}/figures/fig3_length.png",
    f"{RESULTS}/figures/fig2_pca.png",
]
