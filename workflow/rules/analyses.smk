# 3. Analyses of saved checkpoints, one rule per registry row (grokstudy/analyses/registry.py):
# `<name>` reads every checkpoint of a run; `<name>_nulls` reads networks that never trained, once
# per dataset and model (a null set, `<dataset>+<model>`), which every run on both is read against.


for analysis in ANALYSES:

    rule:
        name:
            analysis.name
        input:
            summary=f"{RESULTS}/runs/{{run}}/run.json",
            manifest=lambda w: f"{dataset_dir(w.run)}/manifest.json",
            **({"metrics": f"{RESULTS}/runs/{{run}}/metrics.parquet"} if analysis.reads_logged_metrics else {}),
        output:
            [table_file("{run}", table) for table in analysis.tables],
        params:
            **recorded(
                analysis.name,
                code=analysis_code(analysis.module)["run"],
                module=analysis.module,
                tables=" ".join(analysis.tables),
                settings=as_json(registry.settings_of(STUDY["probes"], analysis.settings)),
                device=PROBE_DEVICE,
                task=lambda w: run_task(w.run),
                data_dir=lambda w: dataset_dir(w.run),
                checkpoints=lambda w: checkpoint_dir(w.run),
            ),
            out_dir=lambda w, output: str(Path(output[0]).parent),
            run_dir=lambda w, input: str(Path(input.summary).parent),
        threads: STUDY["threads_per_job"]
        resources:
            gpu=probe_request()["gpu"],
            runtime=lambda w, attempt: probe_request(attempt)["runtime"],
            mem_mb=probe_request()["mem_mb"],
        log:
            f"{LOGS}/{analysis.name}/{{run}}.log",
        conda:
            ENV
        shell:
            "grokstudy analyze --module {params.module} --tables {params.tables} --run {wildcards.run}"
            " --task {params.task} --data {params.data_dir} --checkpoints {params.checkpoints}"
            " --run-dir {params.run_dir} --settings {params.settings:q} --threads {threads}"
            " --device {params.device} --out-dir {params.out_dir} > {log} 2>&1"

    if analysis.null_tables:

        rule:
            name:
                analysis.null_rule
            input:
                manifest=lambda w: f"{RESULTS}/data/{NULL_SETS[w.nulls][0]}/manifest.json",
            output:
                [null_file("{nulls}", table) for table in analysis.null_tables],
            params:
                **recorded(
                    analysis.null_rule,
                    code=analysis_code(analysis.module)["nulls"],
                    module=analysis.module,
                    tables=" ".join(analysis.null_tables),
                    settings=as_json(registry.settings_of(STUDY["probes"], analysis.null_module_settings)),
                    model=lambda w: as_json(STUDY["models"][NULL_SETS[w.nulls][1]]),
                    device=PROBE_DEVICE,
                    task=lambda w: STUDY["datasets"][NULL_SETS[w.nulls][0]]["task"],
                    data_dir=lambda w: f"{RESULTS}/data/{NULL_SETS[w.nulls][0]}",
                ),
                out_dir=lambda w, output: str(Path(output[0]).parent),
            threads: STUDY["threads_per_job"]
            resources:
                gpu=probe_request()["gpu"],
                runtime=lambda w, attempt: probe_request(attempt)["runtime"],
                mem_mb=probe_request()["mem_mb"],
            log:
                f"{LOGS}/{analysis.null_rule}/{{nulls}}.log",
            conda:
                ENV
            shell:
                "grokstudy analyze-nulls --module {params.module} --tables {params.tables} --run {wildcards.nulls:q}"
                " --task {params.task} --data {params.data_dir} --model-params {params.model:q}"
                " --settings {params.settings:q} --threads {threads} --device {params.device}"
                " --out-dir {params.out_dir} > {log} 2>&1"
