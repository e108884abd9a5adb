# Step 1 (paper §3.1): the corpus, tokenized, cleaned, with fixed vocabularies and UNK.


rule fetch:
    """§3.1: download the data source's files into the checksummed download cache (resumable); only for
    sources that download (multi30k, schwenk)."""
    input:
        config=step_config("prepare"),
    output:
        record=LAYOUT.fetched,
    log:
        LAYOUT.log("fetch"),
    retries: 2
    conda:
        "../../environment.yml"
    shell:
        "repro fetch --config {input.config} --out {output.record} > {log} 2>&1"


rule prepare:
    """§3.1: tokenize, clean, keep the most frequent words of each side (the rest is UNK) and
    integer-encode the splits into the prepared data directory."""
    input:
        config=step_config("prepare"),
        fetched=fetched_record(),
    output:
        # repro prepare builds the directory under a temporary name and renames it into place, so
        # the directory itself is the output: it exists only when complete.
        data=directory(LAYOUT.data_dir),
    log:
        LAYOUT.log("prepare"),
    threads: 2
    resources:
        mem_mb=8000,
    conda:
        "../../environment.yml"
    shell:
        "repro prepare --config {input.config} --workers {threads} --out {output.data} > {log} 2>&1"
