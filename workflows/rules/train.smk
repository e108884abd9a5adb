# Step 2 (paper §3.4): `repro train`, one run directory per run of the experiment's plan (the paper's
# reversed and forward seeds and the ablation variants).
#
# A run trains in LAYOUT.partial_run_dir(run); a killed or failed job leaves it there and the next
# `snakemake` resumes it exactly from checkpoints/last.pt. On success it is renamed to
# LAYOUT.run_dir(run), so the output exists only when complete. Every run reads the model: and train:
# sections (step_config("train")) plus its own overrides (variant and seed), passed as params so that
# changing one variant reruns only its runs. With resources.train_gpus > 1 a run trains under
# torchrun (DDP on one node, a rank per GPU, resources.train_threads threads each). A job asks for
# resources.train_runtime_min minutes; a run that needs longer continues in up to train_retries more
# jobs (on SLURM, allocations), each resuming from the partial run (docs/clusters.md).


rule train:
    """§3.4: train one encoder–decoder (a variant of the base model, one seed) until its stop rule; the
    run directory holds run.json (why it stopped), log.jsonl and the best and last checkpoints."""
    input:
        config=step_config("train"),
        data=LAYOUT.data_dir,
    output:
        run=directory(LAYOUT.run_dir("{run}")),
    params:
        partial=LAYOUT.partial_run_dir("{run}"),
        overrides=train_overrides,
        launcher=train_launcher(),
        on_gpus=lambda wildcards: on_gpus(train_job_gpus(wildcards)),
        threads_per_rank=threads_per_rank,
    log:
        LAYOUT.log("train", "{run}"),
    wildcard_constraints:
        run=one_of(PLAN.runs),
    threads: RESOURCES.train_threads * RESOURCES.train_ranks
    # A job that reaches its time limit (runtime) saves a checkpoint on SIGTERM and fails; each retry
    # (a new allocation on a cluster) resumes the partial run from it.
    retries: RESOURCES.train_retries
    resources:
        mem_mb=RESOURCES.train_mem_mb * RESOURCES.train_ranks,
        # GPUs unless the config pins the CPU, all on one node (torchrun --standalone is one node's launcher)
        gpu=train_job_gpus,
        nodes=1,
        # SLURM: --cpus-per-gpu, each rank its threads (a CPU job asks for the job's threads per task)
        cpus_per_gpu=RESOURCES.train_threads,
        runtime=RESOURCES.train_runtime_min,
    conda:
        "../../environment.yml"
    shell:
        # Snakemake exports MKL_NUM_THREADS={threads} too, which torch prefers to OMP_NUM_THREADS
        "export OMP_NUM_THREADS={params.threads_per_rank} MKL_NUM_THREADS={params.threads_per_rank}; "
        "{params.on_gpus}{params.launcher} --data {input.data} --out {params.partial} --config {input.config}"
        " {params.overrides} --set train.progress=false > {log} 2>&1"
        " && rm -rf {output.run} && mkdir -p $(dirname {output.run}) && mv {params.partial} {output.run}"
