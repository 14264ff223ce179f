# 1. Synthetic knowledge graphs: train split, evaluation splits, tokenizer, manifest.


rule prepare_dataset:
    output:
        manifest=f"{RESULTS}/data/{{dataset}}/manifest.json",
        train=f"{RESULTS}/data/{{dataset}}/train.parquet",
        eval_splits=expand(f"{RESULTS}/data/{{{{dataset}}}}/eval/{{split}}.parquet", split=EVAL_SPLITS),
        tokenizer=f"{RESULTS}/data/{{dataset}}/tokenizer/tokenizer.json",
        baselines=f"{RESULTS}/data/{{dataset}}/baselines.json",
    params:
        **recorded("prepare_dataset", code=lambda w: data_code(w.dataset), dataset=settings(job_settings.dataset, "dataset")),
        out_dir=lambda w, output: str(Path(output.manifest).parent),
    # The dataset of the longest run first, so that run takes the first free lane.
    priority: lambda w: dataset_cost(w.dataset)
    log:
        f"{LOGS}/prepare_dataset/{{dataset}}.log",
    conda:
        ENV
    shell:
        "grokstudy prepare --params {params.dataset:q} --out {params.out_dir} > {log} 2>&1"
