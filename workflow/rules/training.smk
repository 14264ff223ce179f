# 2. Training. Checkpoints are not declared outputs: an interrupted job keeps them and its
# rerun resumes from the newest complete one (the run's fingerprint guards against stale ones).


rule train:
    input:
        manifest=lambda w: f"{dataset_dir(w.run)}/manifest.json",
        train=lambda w: f"{dataset_dir(w.run)}/train.parquet",
    output:
        metrics=f"{RESULTS}/runs/{{run}}/metrics.parquet",
        predictions=f"{RESULTS}/runs/{{run}}/predictions.parquet",
        summary=f"{RESULTS}/runs/{{run}}/run.json",
    params:
        **recorded(
            "train",
            code=lambda w: train_code(w.run),
            run=settings(job_settings.training, "run"),
            model=settings(job_settings.model, "run"),
            device=STUDY["device"],
        ),
        data_dir=lambda w: dataset_dir(w.run),
        out_dir=lambda w, output: str(Path(output.metrics).parent),
        checkpoints=lambda w: checkpoint_dir(w.run),
    threads: STUDY["threads_per_job"]
    # Longest runs first (cost ~ steps x prompt length), so the parallel lanes finish together.
    priority: lambda w: training_cost(w.run)
    resources:
        gpu=1 if STUDY["device"] == "cuda" else 0,
        runtime=lambda w: train_request(w.run)["runtime"],
        mem_mb=lambda w: train_request(w.run)["mem_mb"],
    log:
        f"{LOGS}/train/{{run}}.log",
    conda:
        ENV
    shell:
        "grokstudy train --run-params {params.run:q} --model-params {params.model:q}"
        " --data {params.data_dir} --out {params.out_dir} --checkpoints {params.checkpoints}"
        " --device {params.device}"
        " --threads {threads} > {log} 2>&1"
