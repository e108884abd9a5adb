# Step 2 (paper §3.4): `repro train`, one run directory per run of the experiment's plan (the paper's
# reversed and forward seeds and the ablation variants).
#
# A run trains in LAYOUT.partial_run_dir(run); a killed or failed job leaves it there and the next
# `snakemake` resumes it exactly from checkpoints/last.pt. On success it is renamed to
# LAYOUT.run_dir(run), so the output exists only when complete. Every run reads the model: and train:
# sections (step_config("train")) plus its own overrides (variant and seed), passed as params so that
# changing one variant reruns only its runs. With resources.train_gpus > 1 a run trains under
# torchrun (DDP on one node).


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
    log:
        LAYOUT.log("train", "{run}"),
    wildcard_constraints:
        run=one_of(PLAN.runs),
    threads: RESOURCES.train_threads
    resources:
        mem_mb=16000,
        # GPUs unless the config pins the CPU
        gpu=lambda wildcards: 0 if PLAN.setting(PLAN.runs[wildcards.run].variant, "train.device") == "cpu" else RESOURCES.train_gpus,
        runtime=14 * 24 * 60,
    conda:
        "../../environment.yml"
    shell:
        "export OMP_NUM_THREADS={threads}; "
        "{params.launcher} --data {input.data} --out {params.partial} --config {input.config}"
        " {params.overrides} --set train.progress=false > {log} 2>&1"
        " && rm -rf {output.run} && mkdir -p $(dirname {output.run}) && mv {params.partial} {output.run}"
