# 5. The paper's claims checked with this preset's criteria, and the report.


rule claims:
    input:
        metrics=metrics_of(STUDY["runs"]),
        predictions=[f"{RESULTS}/runs/{run}/predictions.parquet" for run in STUDY["runs"]],
        lens=tables_of("logit_lens", "logit_lens"),
        nulls=tables_of("logit_lens", "null_logit_lens"),
        lens_queries=tables_of("logit_lens", "logit_lens_queries"),
        causal=tables_of("causal_tracing", "causal_tracing_queries"),
        baselines=baselines_of(STUDY["runs"]),
        sweep=tables_of("recurrence_sweep", "recurrence_sweep"),
        sweep_items=tables_of("recurrence_sweep", "recurrence_sweep_items"),
    output:
        CLAIMS,
    params:
        **recorded("claims", code=CLAIMS_CODE, config=as_json(job_settings.claims(STUDY))),
    log:
        f"{LOGS}/claims.log",
    localrule: True
    conda:
        ENV
    shell:
        "grokstudy claims --config {params.config:q} --metrics {input.metrics} --predictions {input.predictions}"
        " --lens {input.lens} {input.nulls} --lens-queries {input.lens_queries} --causal {input.causal}"
        " --baselines {input.baselines} --sweep {input.sweep} --sweep-items {input.sweep_items}"
        " --out {output} > {log} 2>&1"


rule report:
    input:
        figures=[f"{RESULTS}/figures/{stem}.png" for stem in FIGURE_STEMS],
        tables=ALL_FIGURES,
        captions=[caption(kind) for kind in FIGURE_KINDS],
        claims=CLAIMS,
        summaries=[f"{RESULTS}/runs/{run}/run.json" for run in STUDY["runs"]],
        monitors=[MONITOR_TABLE] if FROZEN else [],
    output:
        REPORT,
    params:
        **recorded(
            "report",
            code=code(*code_digest.REPORT, *([code_digest.MONITORS_VIEW] if FROZEN else [])),
            name=STUDY["name"],
            description=lambda w: STUDY.get("description", ""),
        ),
    log:
        f"{LOGS}/report.log",
    localrule: True
    conda:
        ENV
    shell:
        "grokstudy report --name {params.name:q} --description {params.description:q}"
        " --figures {input.figures} --captions {input.captions} --claims {input.claims} --runs {input.summaries}"
        " --monitors-table {input.monitors}"
        " --out {output} > {log} 2>&1"
