# Decoding and scoring: `repro translate` on the test split, then `repro score`.
#
# Paths (the same as repro.experiments.Layout, which the report reads):
#   {DATA_DIR}/test.{raw,tok}.{src,tgt}         the prepared test split (rule prepare)
#   {WORK}/runs/{run}/                          run directories (written by the training rules)
#   {WORK}/decode/{system}/beam{beam}.txt       detokenized 1-best translations of the test split
#   {WORK}/decode/{system}/beam{beam}.tok.txt   the same, Moses-tokenized (the paper's BLEU)
#   {WORK}/scores/{system}/beam{beam}.json      `repro score`: bleu_paper, sacrebleu, chrf, signatures
#   {WORK}/perplexity/{run}.json                `repro score --model`: ppl, nll, tokens on the test split
# {system} is a run name or an ensemble "ensemble-<variant>-s<seed>+<seed>+..."
# (repro.experiments.decoder_name / runs_of_decoder). Decoding options are DECODE, the config's
# `decode:` section read by repro.inference.config.DecodeConfig (which holds the defaults).

from repro.experiments import runs_of_decoder


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
        max_len_a=DECODE.max_len_a,
        max_len_b=DECODE.max_len_b,
        length_norm=DECODE.length_norm,
        batch_size=DECODE.batch_size,
        device=DECODE.device,
        bf16=decode_bf16_flag(),
    log:
        f"{LOGS}/translate/{{system}}/beam{{beam}}.log",
    wildcard_constraints:
        system="[A-Za-z0-9_.+-]+",
        beam="[0-9]+",
    threads: RESOURCES.get("decode_threads", 2)
    resources:
        mem_mb=8000,
    conda:
        "../../environment.yml"
    shell:
        "export OMP_NUM_THREADS={threads}; "
        "repro translate {params.models} --beam {wildcards.beam} --input {input.data}/test.raw.src"
        " --output {output.detok} --tokenized-copy {output.tok}"
        " --max-len-a {params.max_len_a} --max-len-b {params.max_len_b} --length-norm {params.length_norm}"
        " --batch-size {params.batch_size} --device {params.device}{params.bf16} > {log} 2>&1"


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
        system="[A-Za-z0-9_.+-]+",
        beam="[0-9]+",
    conda:
        "../../environment.yml"
    shell:
        "repro score --hyp {input.hyp} --ref {input.data}/test.raw.tgt --src {input.data}/test.raw.src"
        " --tokenized-hyp {input.tok} --tokenized-ref {input.data}/test.tok.tgt"
        " --output {output.scores} > {log} 2>&1"


rule perplexity:
    input:
        run=f"{WORK}/runs/{{run}}",
        data=DATA_DIR,
    output:
        ppl=f"{WORK}/perplexity/{{run}}.json",
    params:
        device=DECODE.device,
        bf16=decode_bf16_flag(),
    log:
        f"{LOGS}/perplexity/{{run}}.log",
    wildcard_constraints:
        run="[A-Za-z0-9_.-]+",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "export OMP_NUM_THREADS={threads}; "
        "repro score --model {input.run} --data {input.data} --split test --device {params.device}"
        " --batch-size 100{params.bf16} --output {output.ppl} > {log} 2>&1"
