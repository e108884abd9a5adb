# seq2seq-repro: Sutskever, Vinyals & Le (2014), "Sequence to Sequence Learning with Neural Networks",
# as a Snakemake workflow.
#   snakemake --cores all                                            the offline demo (default)
#   snakemake --cores all --configfile workflows/config/<name>.yaml  another experiment
#   snakemake --report results/<experiment>/report.html              the HTML report of a finished run
#   snakemake estimate --cores all                                   what the experiment costs here, before running it
#   snakemake audit --cores all                                      after it: continue every run at its final rate
#
# The method, step by step (every path comes from repro.layout; which runs and systems, from
# repro.experiments.plan):
#
#   paper §       rule                 file                           writes
#   3.1           fetch, prepare       workflows/rules/prepare.smk    work/<exp>/data/
#   3.4           train                workflows/rules/train.smk      work/<exp>/runs/<run>/
#   3.2, 3.6      translate            workflows/rules/translate.smk  work/<exp>/records/systems/<decoder>/beam<k>.txt
#   3.6, 3.3      score, perplexity    workflows/rules/score.smk      work/<exp>/records/systems/, perplexity/
#   records       record_data, _run,   workflows/rules/records.smk    work/<exp>/records/data.json, runs/, figure2.json
#                 record_figure2
#   3.6, 3.3      table1, reversal,    workflows/rules/report.smk     results/<exp>/tables/{table1,reversal,beam,table2}
#                 beam, table2         (one rule per report of repro.report.outputs)
#   3.7, 3.8      fig3, fig2           workflows/rules/report.smk     results/<exp>/figures/fig3_*, fig2_pca
#   ablations     ablations            workflows/rules/report.smk     results/<exp>/tables/ablation_*, claims.{md,json}
#   evidence      runs                 workflows/rules/report.smk     results/<exp>/runs.{csv,md,tex}
#   evidence      convergence          workflows/rules/report.smk     results/<exp>/figures/convergence{,_lr}
#   evidence      audit_run, audit     workflows/rules/audit.smk,     work/<exp>/audit/, results/<exp>/convergence_audit.*
#                 (not in all)         report.smk
#   check         compare_reference    workflows/rules/report.smk     results/<exp>/comparison.{md,json}
#   cost          estimate             workflows/rules/estimate.smk   prints the projection; work/<exp>/estimate.json
#
# The run ends by comparing its results with the committed reference, results/reference/<experiment>/.

# The demo is the default experiment. A --configfile given on the command line replaces it instead
# of being deep-merged into it (Snakemake's default), so that no demo value leaks into another
# experiment; `--config key=value` still overrides single values of whichever file is used.
if not workflow.overwrite_configfiles:

    configfile: "workflows/config/demo.yaml"


report: "workflows/report/workflow.rst"


include: "workflows/rules/common.smk"
include: "workflows/rules/prepare.smk"
include: "workflows/rules/train.smk"
include: "workflows/rules/translate.smk"
include: "workflows/rules/score.smk"
include: "workflows/rules/records.smk"
include: "workflows/rules/report.smk"
include: "workflows/rules/estimate.smk"
include: "workflows/rules/audit.smk"


localrules:
    all,
    step_config,


rule all:
    """Everything the experiment config asks for: the paper's tables and figures, the ablations, and the
    comparison of this run with the committed reference."""
    input:
        complete_run_outputs(),
        f"{RESULTS.comparison}.md",
    default_target: True


rule step_config:
    """The part of the experiment config that one step reads (so that editing a section reruns only the
    steps that read it)."""
    output:
        config=LAYOUT.step_config("{step}"),
    params:
        # As a param, the content is part of the job's provenance: when it changes, the file is
        # rewritten and the step that reads it reruns; when it does not, nothing reruns.
        content=lambda wildcards: step_config_content(wildcards.step),
    log:
        LAYOUT.log("step_config", "{step}"),
    wildcard_constraints:
        step="[a-z_]+",
    run:
        write_yaml(output.config, params.content)


onsuccess:
    if print_comparison():
        configfile_hint = "" if EXP == "demo" else f" --configfile <the config of {EXP}>"
        print(
            f"\nseq2seq-repro: experiment '{EXP}' is complete: tables and figures are in {RESULTS.root}/, the "
            f"committed reference in {REFERENCE.root}/.\n"
            f"HTML report: snakemake --report {RESULTS.root}/report.html{configfile_hint}"
        )
