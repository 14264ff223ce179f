# 6. Test-free monitors (presets with a monitors section; docs/monitors.md): each monitor group of
# grokstudy.monitors.registry reads every checkpoint of the monitored runs and the random-init band
# on training facts only (no rule here lists an evaluation split) into its own tables; detectors are
# tuned on the dev seeds, then frozen; every run is scored with them.


rule monitor:
    input:
        summary=f"{RESULTS}/runs/{{run}}/run.json",
        manifest=lambda w: f"{dataset_dir(w.run)}/manifest.json",
        train=lambda w: f"{dataset_dir(w.run)}/train.parquet",
        tokenizer=lambda w: f"{dataset_dir(w.run)}/tokenizer/tokenizer.json",
    output:
        monitor_file("{group}", "{run}"),
    params:
        **recorded(
            "monitor",
            code=lambda w: code(
                *code_digest.MONITOR,
                monitor_registry.BY_NAME[w.group].module,
                architecture_of_model(STUDY["runs"][w.run]["model"]),
            ),
            module=lambda w: monitor_registry.BY_NAME[w.group].module,
            settings=lambda w: as_json(job_settings.monitor(STUDY, w.group)),
            checkpoints=lambda w: checkpoint_dir(w.run),
            device=PROBE_DEVICE,
        ),
        data_dir=lambda w, input: str(Path(input.manifest).parent),
    threads: STUDY["threads_per_job"]
    resources:
        gpu=probe_request()["gpu"],
        runtime=lambda w, attempt: probe_request(attempt)["runtime"],
        mem_mb=probe_request()["mem_mb"],
    log:
        f"{LOGS}/monitor/{{group}}/{{run}}.log",
    conda:
        ENV
    shell:
        "grokstudy monitor --group {wildcards.group} --module {params.module} --run {wildcards.run} --data {params.data_dir} --checkpoints {params.checkpoints}"
        " --settings {params.settings:q} --threads {threads} --device {params.device} --out {output} > {log} 2>&1"


rule monitor_band:
    input:
        manifest=f"{dataset_dir(BAND_RUN)}/manifest.json",
        train=f"{dataset_dir(BAND_RUN)}/train.parquet",
        tokenizer=f"{dataset_dir(BAND_RUN)}/tokenizer/tokenizer.json",
    output:
        monitor_band_file("{group}"),
    params:
        **recorded(
            "monitor_band",
            code=lambda w: code(
                *code_digest.MONITOR_BAND,
                monitor_registry.BY_NAME[w.group].module,
                architecture_of_model(STUDY["runs"][BAND_RUN]["model"]),
            ),
            module=lambda w: monitor_registry.BY_NAME[w.group].module,
            settings=lambda w: as_json(job_settings.monitor_band(STUDY, w.group)),
            model=as_json(STUDY["models"][STUDY["runs"][BAND_RUN]["model"]]),
            steps=as_json(run_checkpoint_steps(BAND_RUN)),
            device=PROBE_DEVICE,
        ),
        data_dir=lambda w, input: str(Path(input.manifest).parent),
    threads: STUDY["threads_per_job"]
    resources:
        gpu=probe_request()["gpu"],
        runtime=lambda w, attempt: probe_request(attempt)["runtime"],
        mem_mb=probe_request()["mem_mb"],
    log:
        f"{LOGS}/monitor_band/{{group}}.log",
    conda:
        ENV
    shell:
        "grokstudy monitor-band --group {wildcards.group} --module {params.module} --data {params.data_dir} --model-params {params.model:q} --steps {params.steps:q}"
        " --label random_init --settings {params.settings:q} --threads {threads} --device {params.device}"
        " --out {output} > {log} 2>&1"


# Tuning reads the dev runs only: `snakemake monitor_tuning` trains and reads no held-out run.
rule monitor_tuning:
    input:
        monitors=monitor_files(MONITOR_ROLES["dev"]),
        metrics=metrics_of(MONITOR_ROLES["dev"]),
        band=MONITOR_BANDS,
    output:
        MONITOR_TUNING,
    params:
        **recorded(
            "monitor_tuning",
            code=code(*code_digest.MONITOR_TUNING),
            runs=MONITOR_ROLES["dev"],
            seeds=as_json(STUDY["monitors"]["dev_seeds"]),
            settings=as_json(job_settings.monitor_tuning(STUDY)),
        ),
    log:
        f"{LOGS}/monitor_tuning.log",
    localrule: True
    conda:
        ENV
    shell:
        "grokstudy monitor-tune --runs {params.runs} --monitors {input.monitors} --metrics {input.metrics}"
        " --band {input.band} --seeds {params.seeds:q} --settings {params.settings:q} --out {output} > {log} 2>&1"


rule monitor_leads:
    input:
        monitors=monitor_files(MONITORED_RUNS),
        metrics=metrics_of(MONITORED_RUNS),
        band=MONITOR_BANDS,
        detectors=STUDY["monitors"].get("detectors") or [],
    output:
        lead_times=MONITOR_LEAD_TIMES,
        table=MONITOR_TABLE,
    params:
        **recorded(
            "monitor_leads",
            code=code(*code_digest.MONITOR_LEADS),
            runs=MONITORED_RUNS,
            roles=as_json(MONITOR_RUN_ROLES),
            sha256=STUDY["monitors"].get("detectors_sha256"),
            settings=as_json(job_settings.monitor_judging(STUDY)),
        ),
    log:
        f"{LOGS}/monitor_leads.log",
    localrule: True
    conda:
        ENV
    shell:
        "grokstudy monitor-leads --runs {params.runs} --monitors {input.monitors} --metrics {input.metrics}"
        " --band {input.band} --roles {params.roles:q} --detectors {input.detectors}"
        " --detectors-sha256 {params.sha256} --settings {params.settings:q}"
        " --out-lead-times {output.lead_times} --out-table {output.table} > {log} 2>&1"


rule figure_monitors:
    input:
        monitors=monitor_files(MONITORED_RUNS),
        metrics=metrics_of(MONITORED_RUNS),
        band=MONITOR_BANDS,
        lead_times=MONITOR_LEAD_TIMES,
        table=MONITOR_TABLE,
    output:
        [f for stem, kind in MONITOR_FIGURES for f in figure_outputs(stem, kind)],
    params:
        **recorded(
            "figure_monitors",
            code=code(*code_digest.MONITOR_FIGURES, *sorted({group.figure.split(":")[0] for group in MONITOR_GROUPS})),
            runs=MONITORED_RUNS,
            roles=as_json(MONITOR_RUN_ROLES),
            dpi=STUDY["figures"]["dpi"],
        ),
        out_dir=lambda w, output: str(Path(output[0]).parent),
    log:
        f"{LOGS}/figures/monitors.log",
    localrule: True
    conda:
        ENV
    shell:
        "grokstudy monitor-figures --runs {params.runs} --monitors {input.monitors} --metrics {input.metrics}"
        " --band {input.band} --lead-times {input.lead_times} --table {input.table} --roles {params.roles:q}"
        " --dpi {params.dpi} --out-dir {params.out_dir} > {log} 2>&1"
