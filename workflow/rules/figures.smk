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
        output:
            figure_outputs(curve, curve),
        params:
            **recorded(
                f"figure_{curve}",
                code=CURVE_FIGURE_CODE,
                kind=curve,
                labels=as_json(job_settings.curve_labels(STUDY, STUDY["figures"][curve]["runs"])),
                dpi=STUDY["figures"]["dpi"],
                step_axis=STUDY["figures"][curve]["step_axis"],
            ),
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


# Each analysis with a figure: one per run it applies to, from the run's tables and its nulls.
for analysis in ANALYSIS_FIGURES:

    rule:
        name:
            f"figure_{analysis.name}"
        input:
            unpack(lambda w, analysis=analysis: figure_inputs(analysis, w.run)),
        output:
            figure_outputs(f"{analysis.name}_{{run}}", analysis.caption, subcategory="{run}"),
        params:
            **recorded(
                f"figure_{analysis.name}",
                code=code(*code_digest.ANALYSIS_FIGURE, analysis.figure.split(":")[0]),
                draw=analysis.figure,
                dpi=STUDY["figures"]["dpi"],
            ),
            inputs=lambda w, input: " ".join(f"{name}={path}" for name, path in input.items()),
            prefix=figure_prefix,
        log:
            f"{LOGS}/figures/{analysis.name}_{{run}}.log",
        localrule: True
        conda:
            ENV
        shell:
            "grokstudy analysis-figure --draw {params.draw} --inputs {params.inputs}"
            " --dpi {params.dpi} --out-prefix {params.prefix} > {log} 2>&1"
