# Training: `repro train` on the prepared data, one run directory per run name.
#
#   {WORK}/runs/{run}/           the finished run (run.json, log.jsonl, checkpoints/, data/): the output
#   {WORK}/runs-partial/{run}/   where it trains; a killed or failed job leaves it there and the next
#                                `snakemake` resumes it exactly from checkpoints/last.pt. On success it is
#                                renamed into place, so the output exists only when complete.
# The run reads the model: and train: sections (step_config("train")). Multi-GPU on one node: set
# train_gpus (below) > 1 and the job runs under torchrun.

STEP_SECTIONS["train"] = ["model", "train"]


rule train:
    input:
        config=step_config("train"),
        data=DATA_DIR,
    output:
        run=directory(f"{WORK}/runs/{{run}}"),
    params:
        partial=f"{WORK}/runs-partial/{{run}}",
    log:
        f"{LOGS}/train/{{run}}.log",
    wildcard_constraints:
        run="main",
    threads: 4
    resources:
        mem_mb=16000,
        # one GPU unless the config pins the CPU
        gpu=lambda wildcards: int(config.get("train", {}).get("device", "auto") != "cpu"),
        runtime=14 * 24 * 60,
    conda:
        "../../environment.yml"
    shell:
        "repro train --data {input.data} --out {params.partial} --config {input.config}"
        " --set train.progress=false > {log} 2>&1"
        " && rm -rf {output.run} && mkdir -p $(dirname {output.run}) && mv {params.partial} {output.run}"
