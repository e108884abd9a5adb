# Data preparation: synthetic / local / wmt14 / schwenk -> tokenized, vocabulary-encoded splits.


rule prepare:
    input:
        config=step_config("prepare"),
    output:
        # repro prepare builds the directory under a temporary name and renames it into place, so
        # the directory itself is the output: it exists only when complete.
        data=directory(DATA_DIR),
    log:
        f"{LOGS}/prepare.log",
    threads: 2
    resources:
        mem_mb=8000,
    conda:
        "../../environment.yml"
    shell:
        "repro prepare --config {input.config} --workers {threads} --out {output.data} > {log} 2>&1"
