# Grokked transformers as implicit reasoners: the study, as a table of contents.
#
#   1. data      synthetic knowledge graphs (composition, comparison)     workflow/rules/data.smk
#   2. training  GPT-2 from scratch, resumable checkpoints                 workflow/rules/training.smk
#   3. analyses  every checkpoint and its nulls, one rule per registry row workflow/rules/analyses.smk
#   4. figures   accuracy curves, and one figure per analysis and run      workflow/rules/figures.smk
#   5. report    the paper's claims checked, every figure captioned        workflow/rules/report.smk
#   6. monitors  test-free monitors and their lead times (optional)       workflow/rules/monitors.smk
#
# Preset: config/config.yaml unless --configfile names another (config/smoke.yaml, config/paper.yaml).


include: "workflow/rules/common.smk"


# `snakemake --report report.html` (after a run): every figure with its caption; the study's own
# report with the claims table is results/<preset>/report/index.html.
report: "workflow/report/workflow.rst"


rule all:
    input:
        figures=ALL_FIGURES,
        tables=ALL_PROBE_TABLES,
        report=REPORT,


include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/analyses.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


if MONITORS:

    include: "workflow/rules/monitors.smk"


# Each stage as a target of its own (`snakemake probe_tables`); `grokstudy restore` marks them.
rule datasets:
    input:
        ALL_DATASETS,


rule trained_runs:
    input:
        metrics_of(STUDY["runs"]),


rule probe_tables:
    input:
        ALL_PROBE_TABLES,
