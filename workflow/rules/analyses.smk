# 3. Checkpoint probes: every checkpoint reloaded with plain transformers, and the nulls.


rule probe_checkpoints:
    input:
        summary=f"{RESULTS}/runs/{{run}}/run.json",
        metrics=f"{RESULTS}/runs/{{run}}/metrics.parquet",
        manifest=lambda w: f"{dataset_dir(w.run)}/manifest.json",
        code=PROBE_SOURCES,
    output:
        lens=f"{RESULTS}/probes/{{run}}/logit_lens.parquet",
        accuracy=f"{RESULTS}/probes/{{run}}/checkpoint_accuracy.parquet",
    params:
        device=PROBE_DEVICE,
        probes=as_json(job_settings.checkpoint_probes(STUDY)),
        task=lambda w: run_task(w.run),
        data_dir=lambda w: dataset_dir(w.run),
        run_dir=lambda w, input: str(Path(input.summary).parent),
        checkpoints=lambda w: checkpoint_dir(w.run),
    threads: STUDY["threads_per_job"]
    resources:
        gpu=probe_request()["gpu"],
        runtime=lambda w, attempt: probe_request(attempt)["runtime"],
        mem_mb=probe_request()["mem_mb"],
    log:
        f"{LOGS}/probe_checkpoints/{{run}}.log",
    conda:
        ENV
    shell:
        "grokstudy probe --run {wildcards.run} --task {params.task} --data {params.data_dir}"
        " --run-dir {params.run_dir} --checkpoints {params.checkpoints} --probes {params.probes:q} --threads {threads} --device {params.device}"
        " --out-lens {output.lens} --out-accuracy {output.accuracy} > {log} 2>&1"


rule probe_null_networks:
    input:
        manifest=lambda w: f"{dataset_dir(w.run)}/manifest.json",
        code=PROBE_SOURCES,
    output:
        lens=f"{RESULTS}/probes/{{run}}/null_logit_lens.parquet",
    params:
        device=PROBE_DEVICE,
        probes=as_json(job_settings.null_probes(STUDY)),
        model=settings(job_settings.model, "run"),
        task=lambda w: run_task(w.run),
        data_dir=lambda w: dataset_dir(w.run),
    threads: STUDY["threads_per_job"]
    resources:
        gpu=probe_request()["gpu"],
        runtime=lambda w, attempt: probe_request(attempt)["runtime"],
        mem_mb=probe_request()["mem_mb"],
    log:
        f"{LOGS}/probe_null_networks/{{run}}.log",
    conda:
        ENV
    shell:
        "grokstudy probe-null --run {wildcards.run} --task {params.task} --data {params.data_dir}"
        " --model-params {params.model:q} --probes {params.probes:q} --threads {threads} --device {params.device}"
        " --out {output.lens} > {log} 2>&1"


rule trace_causal_effects:
    input:
        summary=f"{RESULTS}/runs/{{run}}/run.json",
        manifest=lambda w: f"{dataset_dir(w.run)}/manifest.json",
        code=PROBE_SOURCES,
    output:
        table=f"{RESULTS}/probes/{{run}}/causal_tracing.parquet",
        queries=f"{RESULTS}/probes/{{run}}/causal_tracing_queries.parquet",
    params:
        device=PROBE_DEVICE,
        probes=as_json(job_settings.null_probes(STUDY)),
        model=settings(job_settings.model, "run"),
        data_dir=lambda w: dataset_dir(w.run),
        checkpoints=lambda w: checkpoint_dir(w.run),
    threads: STUDY["threads_per_job"]
    resources:
        gpu=probe_request()["gpu"],
        runtime=lambda w, attempt: probe_request(attempt)["runtime"],
        mem_mb=probe_request()["mem_mb"],
    log:
        f"{LOGS}/trace_causal_effects/{{run}}.log",
    conda:
        ENV
    shell:
        "grokstudy trace --run {wildcards.run} --data {params.data_dir} --checkpoints {params.checkpoints}"
        " --model-params {params.model:q} --probes {params.probes:q} --threads {threads} --device {params.device}"
        " --out {output.table} --out-queries {output.queries} > {log} 2>&1"
