# Training: `repro train` on the prepared data, one run directory per run of the experiment's plan
# (repro.experiments.plan: the paper's reversed/forward seeds and the ablation variants).
#
#   {WORK}/runs/{run}/           the finished run (run.json, log.jsonl, checkpoints/, data/): the output
#   {WORK}/runs-partial/{run}/   where it trains; a killed or failed job leaves it there and the next
#                                `snakemake` resumes it exactly from checkpoints/last.pt. On success it is
#                                renamed into place, so the output exists only when complete.
# Every run reads the model: and train: sections (step_config("train")) plus its own overrides
# (variant and seed), passed as params so that changing one variant reruns only its runs. With
# resources.train_gpus > 1 a run trains under torchrun (DDP on one node).

STEP_SECTIONS["train"] = ["model", "train"]


rule train:
    input:
        config=step_config("train"),
        data=DATA_DIR,
    output:
        run=directory(f"{WORK}/runs/{{run}}"),
    params:
        partial=f"{WORK}/runs-partial/{{run}}",
        overrides=train_overrides,
        launcher=train_launcher(),
    log:
        f"{LOGS}/train/{{run}}.log",
    wildcard_constraints:
        run="|".join(PLAN.runs) or "no-runs",
    threads: RESOURCES.get("train_threads", 4)
    resources:
        mem_mb=16000,
        # GPUs unless the config pins the CPU
        gpu=lambda wildcards: (
            0 if config.get("train", {}).get("device", "auto") == "cpu" else RESOURCES.get("train_gpus", 1)
        ),
        runtime=14 * 24 * 60,
    conda:
        "../../environment.yml"
    shell:
        "export OMP_NUM_THREADS={threads}; "
        "{params.launcher} --data {input.data} --out {params.partial} --config {input.config}"
        " {params.overrides} --set train.progress=false > {log} 2>&1"
        " && rm -rf {output.run} && mkdir -p $(dirname {output.run}) && mv {params.partial} {output.run}"
