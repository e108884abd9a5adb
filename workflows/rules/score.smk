# Step 4 (paper §3.6, §3.3): BLEU of each translation (the paper's way and sacreBLEU) and the test
# perplexity of each run.


rule score:
    """§3.6: score one system's test translations: cased multi-bleu.pl BLEU on tokenized text as the
    paper scored, sacreBLEU and chrF on detokenized text."""
    input:
        hyp=LAYOUT.records.translation("{decoder}", "{search}"),
        tok=LAYOUT.records.translation("{decoder}", "{search}", tokenized=True),
        data=LAYOUT.data_dir,
    output:
        scores=LAYOUT.records.scores("{decoder}", "{search}"),
    params:
        # as a param, a changed setting behind the system reruns it (repro.records)
        fingerprint=lambda wildcards: RECORD_PLAN.system(planned_system(wildcards)).fingerprint,
    log:
        LAYOUT.log("score", "{decoder}/{search}"),
    wildcard_constraints:
        decoder=one_of(PLAN.decoders),
        search=one_of(SEARCHES),
    conda:
        "../../environment.yml"
    shell:
        "repro score --hyp {input.hyp} --ref {input.data}/test.raw.tgt --src {input.data}/test.raw.src"
        " --tokenized-hyp {input.tok} --tokenized-ref {input.data}/test.tok.tgt"
        " --output {output.scores} --fingerprint {params.fingerprint} > {log} 2>&1"


rule perplexity:
    """§3.3: test perplexity of one run (per target token, <eos> included), as the reversal result
    reports it; decode.batch_size, decode.device and decode.bf16 say how the model runs."""
    input:
        config=step_config("decode"),
        run=LAYOUT.run_dir("{run}"),
        data=LAYOUT.data_dir,
    output:
        ppl=LAYOUT.records.perplexity("{run}"),
    params:
        on_gpus=on_gpus(decode_gpus()),
        fingerprint=lambda wildcards: RECORD_PLAN.perplexity(PLAN.runs[wildcards.run]).fingerprint,
    log:
        LAYOUT.log("perplexity", "{run}"),
    wildcard_constraints:
        run=one_of([run.name for run in PLAN.perplexity_runs()]),
    threads: 1
    resources:
        # a GPU unless decode.device is cpu (auto, like train.device: CUDA wherever there is one)
        gpu=decode_gpus(),
    conda:
        "../../environment.yml"
    shell:
        "export OMP_NUM_THREADS={threads}; "
        "{params.on_gpus}repro perplexity --model {input.run} --data {input.data} --split test --config {input.config}"
        " --output {output.ppl} --fingerprint {params.fingerprint} > {log} 2>&1"
