# Step 3 (paper §3.2, §3.6): `repro translate` on the test split with beam search, one run or an ensemble.
# {decoder} is a decoder of the plan (a run's name, or "ensemble-<variant>-s<seed>+<seed>+..."), {search}
# a system's search (beam12, or beam12-minlen1 for fairseq's convention), given as --beam and --min-len; the
# other decoding settings are the config's decode: section (repro.inference.config.DecodeConfig), which the
# command reads from its step config (step_config("decode")), as `repro train` reads model: and train:.


rule translate:
    """§3.2, §3.6: translate the test split with left-to-right beam search (an ensemble averages its
    members' log-probabilities), writing detokenized and Moses-tokenized 1-best translations."""
    input:
        config=step_config("decode"),
        runs=decoder_runs,
        # The prepared directory is one output of rule prepare (complete or absent), so files inside
        # it are named in the command, not as inputs.
        data=LAYOUT.data_dir,
    output:
        detok=LAYOUT.records.translation("{decoder}", "{search}"),
        tok=LAYOUT.records.translation("{decoder}", "{search}", tokenized=True),
    params:
        on_gpus=on_gpus(decode_gpus()),
        beam=lambda wildcards: planned_system(wildcards).beam,
        min_len=lambda wildcards: planned_system(wildcards).min_len,
        models=lambda wildcards, input: " ".join(f"--model {run}" for run in input.runs),
    log:
        LAYOUT.log("translate", "{decoder}/{search}"),
    wildcard_constraints:
        decoder=one_of(PLAN.decoders),
        search=one_of(SEARCHES),
    threads: RESOURCES.decode_threads
    resources:
        mem_mb=8000,
        # a GPU unless decode.device is cpu (auto, like train.device: CUDA wherever there is one)
        gpu=decode_gpus(),
    conda:
        "../../environment.yml"
    shell:
        "export OMP_NUM_THREADS={threads}; "
        "{params.on_gpus}repro translate {params.models} --config {input.config} --beam {params.beam} --min-len {params.min_len}"
        " --input {input.data}/test.raw.src --output {output.detok} --tokenized-copy {output.tok} > {log} 2>&1"
