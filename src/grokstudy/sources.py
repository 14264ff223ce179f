"""The package's source files each step of the study depends on (globs relative to the package).

One list for both uses: Snakemake's rule inputs (an edit reruns the step) and the training run's
fingerprint (an edit never resumes an old checkpoint). Imports nothing heavy: the Snakefile reads it.
"""

DATA_CODE = ("data/*.py", "tokenizer.py", "provenance.py")
TRAINING_CODE = ("training/*.py", "model.py", "batching.py", "evaluation.py")
PROBE_CODE = ("probes/*.py", "stats.py", "evaluation.py", "batching.py", "model.py", "results.py")
FIGURE_CODE = ("figures/*.py", "results.py", "data/baselines.py", "data/store.py")
REPORT_CODE = ("claims/*.py", "report.py", "results.py", "stats.py", "data/baselines.py", "data/store.py")
