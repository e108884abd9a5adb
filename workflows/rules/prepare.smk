# Data: a source that downloads (multi30k, schwenk) is fetched into the download cache first; then
# synthetic / local / multi30k / wmt14 / schwenk -> tokenized, vocabulary-encoded splits.


rule fetch:
    """Download the data source's files into the checksummed download cache (resumable)."""
    input:
        config=step_config("prepare"),
    output:
        record=f"{WORK}/fetched.json",
    log:
        f"{LOGS}/fetch.log",
    retries: 2
    conda:
        "../../environment.yml"
    shell:
        "repro fetch --config {input.config} --out {output.record} > {log} 2>&1"


rule prepare:
    """Tokenize, clean, build the vocabularies and integer-encode the splits into the data directory."""
    input:
        config=step_config("prepare"),
        fetched=fetched_record(),
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
