# 4. Figures: each from its own rule, as PNG, PDF and the CSV behind it.


# Accuracy against step: per split (paper Fig. 1), across phi (Fig. 2a), across weight decay; and
# against epochs across world sizes. Seeds of a run share its colour; baselines are reference lines.
for curve in CURVE_FIGURES:

    rule:
        name:
            f"figure_{curve}"
        input:
            metrics=metrics_of(STUDY["figures"][curve]["runs"]),
            baselines=baselines_of(STUDY["figures"][curve]["runs"]),
            code=FIGURE_SOURCES,
        output:
            figure_outputs(curve, curve),
        params:
            kind=curve,
            labels=as_json(job_settings.curve_labels(STUDY, STUDY["figures"][curve]["runs"])),
            dpi=STUDY["figures"]["dpi"],
            step_axis=STUDY["figures"][curve]["step_axis"],
            prefix=figure_prefix,
        log:
            f"{LOGS}/figures/{curve}.log",
        # Small CPU jobs: on a cluster they run on the submitting node.
        localrule: True
        conda:
            ENV
        shell:
            "grokstudy figure {params.kind} --inputs {input.metrics} --baselines {input.baselines} --labels {params.labels:q}"
            " --dpi {params.dpi} --step-axis {params.step_axis} --out-prefix {params.prefix} > {log} 2>&1"


# Logit lens, layer x step, next to its nulls: one figure per probed run.
rule figure_logit_lens:
    input:
        lens=f"{RESULTS}/probes/{{run}}/logit_lens.parquet",
        nulls=f"{RESULTS}/probes/{{run}}/null_logit_lens.parquet",
        code=FIGURE_SOURCES,
    output:
        figure_outputs("logit_lens_{run}", "logit_lens", subcategory="{run}"),
    params:
        dpi=STUDY["figures"]["dpi"],
        prefix=figure_prefix,
    log:
        f"{LOGS}/figures/logit_lens_{{run}}.log",
    localrule: True
    conda:
        ENV
    shell:
        "grokstudy figure logit_lens --inputs {input.lens} {input.nulls}"
        " --dpi {params.dpi} --out-prefix {params.prefix} > {log} 2>&1"


# Causal tracing, layer x step per noised position, next to its nulls: one figure per traced run.
rule figure_causal_tracing:
    input:
        table=f"{RESULTS}/probes/{{run}}/causal_tracing.parquet",
        code=FIGURE_SOURCES,
    output:
        figure_outputs("causal_tracing_{run}", "causal_tracing", subcategory="{run}"),
    params:
        dpi=STUDY["figures"]["dpi"],
        prefix=figure_prefix,
    log:
        f"{LOGS}/figures/causal_tracing_{{run}}.log",
    localrule: True
    conda:
        ENV
    shell:
        "grokstudy figure causal_tracing --inputs {input.table} --dpi {params.dpi} --out-prefix {params.prefix} > {log} 2>&1"
