# Before a run: what the experiment costs on this machine. `snakemake estimate` times each distinct
# model of the plan (training steps, a validation pass, a checkpoint, beam search) on batches shaped like
# the config's data, checks the device (CUDA, bf16, NCCL, memory) and prints the projection: per model,
# per epoch, to the epoch ceiling, decoding, and the whole experiment with these --cores. Not part of
# `all`; it has no output file, so it runs whenever it is asked for.


rule estimate:
    """Before running: what the experiment costs on this machine (`repro estimate`): time per epoch and
    per run of every model, decoding time, the whole experiment serial and with --cores, peak memory and
    device readiness; printed, and written to work/<experiment>/estimate.json."""
    input:
        config=step_config("estimate"),
    params:
        data=LAYOUT.data_dir,
        json=LAYOUT.estimate,
        cores=workflow.cores,
    log:
        LAYOUT.log("estimate"),
    threads: max(RESOURCES.train_threads, RESOURCES.decode_threads)
    conda:
        "../../environment.yml"
    shell:
        # the projection on the terminal and in the log; the job fails (pipefail) when the device is not ready
        "repro estimate --config {input.config} --data {params.data} --cores {params.cores} --json {params.json}"
        " --quiet 2>&1 | tee {log}"
