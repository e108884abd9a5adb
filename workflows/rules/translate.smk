# Step 3 (paper §3.2, §3.6): `repro translate` on the test split with beam search, one run or an ensemble.
# {decoder} is a decoder of the plan (a run's name, or "ensemble-<variant>-s<seed>+<seed>+..."), {search}
# a system's search (beam12, or beam12-minlen1 for fairseq's convention); the other decoding options are
# DECODE, the config's decode: section (repro.inference.config.DecodeConfig).


rule translate:
    """§3.2, §3.6: translate the test split with left-to-right beam search (an ensemble averages its
    members' log-probabilities), writing detokenized and Moses-tokenized 1-best translations."""
    input:
        runs=decoder_runs,
        # The prepared directory is one output of rule prepare (complete or absent), so files inside
        # it are named in the command, not as inputs.
        data=LAYOUT.data_dir,
    output:
        detok=LAYOUT.translation("{decoder}", "{search}"),
        tok=LAYOUT.translation("{decoder}", "{search}", tokenized=True),
    params:
        beam=lambda wildcards: planned_system(wildcards).beam,
        min_len=lambda wildcards: planned_system(wildcards).min_len,
        models=lambda wildcards, input: " ".join(f"--model {run}" for run in input.runs),
        max_len_a=DECODE.max_len_a,
        max_len_b=DECODE.max_len_b,
        length_norm=DECODE.length_norm,
        batch_size=DECODE.batch_size,
        device=DECODE.device,
        bf16=decode_bf16_flag(),
    log:
        LAYOUT.log("translate", "{decoder}/{search}"),
    wildcard_constraints:
        decoder=one_of(PLAN.decoders),
        search=one_of(SEARCHES),
    threads: RESOURCES.decode_threads
    resources:
        mem_mb=8000,
    conda:
        "../../environment.yml"
    shell:
        "export OMP_NUM_THREADS={threads}; "
        "repro translate {params.models} --beam {params.beam} --min-len {params.min_len}"
        " --input {input.data}/test.raw.src"
        " --output {output.detok} --tokenized-copy {output.tok}"
        " --max-len-a {params.max_len_a} --max-len-b {params.max_len_b} --length-norm {params.length_norm}"
        " --batch-size {params.batch_size} --device {params.device}{params.bf16} > {log} 2>&1"
