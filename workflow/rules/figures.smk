# 4. Figures: each from its own rule, as PNG, PDF and the CSV behind it.


def figure_config(runs):
    return as_json({"datasets": STUDY["datasets"], "runs": {r: STUDY["runs"][r] for r in runs}})


rule figure_accuracy_curves:
    input:
        metrics=metrics_of(STUDY["figures"]["accuracy_curves"]["runs"]),
        code=FIGURE_SOURCES,
    output:
        figure_files("accuracy_curves"),
    params:
        config=figure_config(STUDY["figures"]["accuracy_curves"]["runs"]),
        dpi=STUDY["figures"]["dpi"],
        prefix=f"{RESULTS}/figures/accuracy_curves",
    log:
        f"{LOGS}/figures/accuracy_curves.log",
    conda:
        ENV
    shell:
        "grokstudy figure accuracy_curves --inputs {input.metrics} --config {params.config:q}"
        " --dpi {params.dpi} --out-prefix {params.prefix} > {log} 2>&1"


rule figure_phi_sweep:
    input:
        metrics=metrics_of(STUDY["figures"]["phi_sweep"]["runs"]),
        code=FIGURE_SOURCES,
    output:
        figure_files("phi_sweep"),
    params:
        config=figure_config(STUDY["figures"]["phi_sweep"]["runs"]),
        dpi=STUDY["figures"]["dpi"],
        prefix=f"{RESULTS}/figures/phi_sweep",
    log:
        f"{LOGS}/figures/phi_sweep.log",
    conda:
        ENV
    shell:
        "grokstudy figure phi_sweep --inputs {input.metrics} --config {params.config:q}"
        " --dpi {params.dpi} --out-prefix {params.prefix} > {log} 2>&1"


rule figure_weight_decay:
    input:
        metrics=metrics_of(STUDY["figures"]["weight_decay"]["runs"]),
        code=FIGURE_SOURCES,
    output:
        figure_files("weight_decay"),
    params:
        config=figure_config(STUDY["figures"]["weight_decay"]["runs"]),
        dpi=STUDY["figures"]["dpi"],
        prefix=f"{RESULTS}/figures/weight_decay",
    log:
        f"{LOGS}/figures/weight_decay.log",
    conda:
        ENV
    shell:
        "grokstudy figure weight_decay --inputs {input.metrics} --config {params.config:q}"
        " --dpi {params.dpi} --out-prefix {params.prefix} > {log} 2>&1"


rule figure_logit_lens:
    input:
        lens=f"{RESULTS}/probes/{{run}}/logit_lens.parquet",
        nulls=f"{RESULTS}/probes/{{run}}/null_logit_lens.parquet",
        code=FIGURE_SOURCES,
    output:
        figure_files("logit_lens_{run}"),
    params:
        dpi=STUDY["figures"]["dpi"],
        prefix=f"{RESULTS}/figures/logit_lens_{{run}}",
    log:
        f"{LOGS}/figures/logit_lens_{{run}}.log",
    conda:
        ENV
    shell:
        "grokstudy figure logit_lens --inputs {input.lens} {input.nulls}"
        " --dpi {params.dpi} --out-prefix {params.prefix} > {log} 2>&1"
