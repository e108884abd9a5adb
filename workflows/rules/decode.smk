# Decoding and scoring: `repro translate` on the test split, then `repro score`.
#
# Paths (SYSTEM is a run name under {WORK}/runs/, or "ensemble-NAME" for an ensemble listed in
# config["decode"]["ensembles"][NAME] as a list of run names):
#   {DATA_DIR}/test.{raw,tok}.{src,tgt}         the prepared test split (rule prepare)
#   {WORK}/runs/{run}/                          run directories (written by the training rules)
#   {WORK}/decode/{system}/beam{beam}.txt       detokenized 1-best translations of the test split
#   {WORK}/decode/{system}/beam{beam}.tok.txt   the same, Moses-tokenized (the paper's BLEU)
#   {WORK}/scores/{system}/beam{beam}.json      `repro score` output: paper BLEU, sacreBLEU, chrF
# Decoding options come from config["decode"]: max_len_a, max_len_b, length_norm, batch_size, device.


def decode_option(name, default):
    return config.get("decode", {}).get(name, default)


def decode_runs(wildcards):
    """Run directories decoded together for a system: one run, or an ensemble's runs."""
    if wildcards.system.startswith("ensemble-"):
        name = wildcards.system[len("ensemble-"):]
        ensembles = config.get("decode", {}).get("ensembles", {})
        if name not in ensembles:
            raise WorkflowError(f"no ensemble {name!r} in config decode.ensembles (known: {', '.join(ensembles)})")
        return [f"{WORK}/runs/{run}" for run in ensembles[name]]
    return [f"{WORK}/runs/{wildcards.system}"]


rule translate:
    input:
        runs=decode_runs,
        # The prepared directory is one output of rule prepare (complete or absent), so files inside
        # it are named in the command, not as inputs.
        data=DATA_DIR,
    output:
        detok=f"{WORK}/decode/{{system}}/beam{{beam}}.txt",
        tok=f"{WORK}/decode/{{system}}/beam{{beam}}.tok.txt",
    params:
        models=lambda wildcards, input: " ".join(f"--model {run}" for run in input.runs),
        max_len_a=decode_option("max_len_a", 2.0),
        max_len_b=decode_option("max_len_b", 10),
        length_norm=decode_option("length_norm", 0.0),
        batch_size=decode_option("batch_size", 64),
        device=decode_option("device", "auto"),
    log:
        f"{LOGS}/translate/{{system}}/beam{{beam}}.log",
    wildcard_constraints:
        system="[A-Za-z0-9_.-]+",
        beam="[0-9]+",
    threads: 2
    resources:
        mem_mb=8000,
    conda:
        "../../environment.yml"
    shell:
        "repro translate {params.models} --beam {wildcards.beam} --input {input.data}/test.raw.src"
        " --output {output.detok} --tokenized-copy {output.tok}"
        " --max-len-a {params.max_len_a} --max-len-b {params.max_len_b} --length-norm {params.length_norm}"
        " --batch-size {params.batch_size} --device {params.device} > {log} 2>&1"


rule score:
    input:
        hyp=f"{WORK}/decode/{{system}}/beam{{beam}}.txt",
        tok=f"{WORK}/decode/{{system}}/beam{{beam}}.tok.txt",
        data=DATA_DIR,
    output:
        scores=f"{WORK}/scores/{{system}}/beam{{beam}}.json",
    log:
        f"{LOGS}/score/{{system}}/beam{{beam}}.log",
    wildcard_constraints:
        system="[A-Za-z0-9_.-]+",
        beam="[0-9]+",
    conda:
        "../../environment.yml"
    shell:
        "repro score --hyp {input.hyp} --ref {input.data}/test.raw.tgt --src {input.data}/test.raw.src"
        " --tokenized-hyp {input.tok} --tokenized-ref {input.data}/test.tok.tgt"
        " --output {output.scores} > {log} 2>&1"
