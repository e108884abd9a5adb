# seq2seq-repro: Sutskever, Vinyals & Le (2014) as a Snakemake workflow.
#   snakemake --cores all                                            the offline demo (default)
#   snakemake --cores all --configfile workflows/config/<name>.yaml  another experiment
# Intermediates go to work/<experiment>/, final outputs to results/<experiment>/; the run ends by comparing
# them with the committed reference, results/reference/<experiment>/.

# The demo is the default experiment. A --configfile given on the command line replaces it instead
# of being deep-merged into it (Snakemake's default), so that no demo value leaks into another
# experiment; `--config key=value` still overrides single values of whichever file is used.
if not workflow.overwrite_configfiles:

    configfile: "workflows/config/demo.yaml"


include: "workflows/rules/common.smk"
include: "workflows/rules/prepare.smk"
include: "workflows/rules/train.smk"
include: "workflows/rules/decode.smk"
include: "workflows/rules/paper.smk"
include: "workflows/rules/ablations.smk"
include: "workflows/rules/reference.smk"


localrules:
    all,
    step_config,


rule all:
    """Everything the experiment config asks for: the paper's tables and figures, the ablations, and the
    comparison of this run with the committed reference."""
    input:
        PAPER_OUTPUTS,
        ablation_outputs(),
        f"{RESULTS}/comparison.md",
    default_target: True


rule step_config:
    output:
        config=f"{WORK}/config/{{step}}.yaml",
    params:
        # As a param, the content is part of the job's provenance: when it changes, the file is
        # rewritten and the step that reads it reruns; when it does not, nothing reruns.
        content=lambda wildcards: step_config_content(wildcards.step),
    log:
        f"{LOGS}/step_config/{{step}}.log",
    wildcard_constraints:
        step="[a-z_]+",
    run:
        write_yaml(output.config, params.content)


onsuccess:
    if print_comparison():
        configfile_hint = "" if EXP == "demo" else f" --configfile <the config of {EXP}>"
        print(
            f"\nseq2seq-repro: experiment '{EXP}' is complete: tables and figures are in {RESULTS}/, the "
            f"committed reference in {REFERENCE}/.\n"
            f"HTML report: snakemake --report {RESULTS}/report.html{configfile_hint}"
        )
