"""The JSON schema every preset must satisfy before any job runs."""

POSITIVE_INT = {"type": "integer", "minimum": 1}
FRACTION_OPEN = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
SEED = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}
NAME_LIST = {"type": "array", "items": NAME, "minItems": 1, "uniqueItems": True}

# An accuracy-vs-step figure: which runs, and the step axis (the paper's Figure 1 uses log).
CURVE_FIGURE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["runs"],
    "properties": {"runs": NAME_LIST, "step_axis": {"enum": ["log", "linear"]}},
}

COMMON_DATASET = {
    "ood_fraction": FRACTION_OPEN,
    "test_id_fraction": FRACTION_OPEN,
    "phi": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
    "max_eval_items": {"type": "integer", "minimum": 10, "maximum": 100000},
    "seed": SEED,
}

COMPOSITION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["task", "entities", "relations", "out_degree", *COMMON_DATASET],
    "properties": {
        "task": {"const": "composition"},
        "entities": {"type": "integer", "minimum": 2, "maximum": 1_000_000},
        "relations": {"type": "integer", "minimum": 1, "maximum": 100_000},
        "out_degree": POSITIVE_INT,
        **COMMON_DATASET,
    },
}

COMPARISON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["task", "entities", "attributes", "values", *COMMON_DATASET],
    "properties": {
        "task": {"const": "comparison"},
        "entities": {"type": "integer", "minimum": 4, "maximum": 1_000_000},
        "attributes": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "values": {"type": "integer", "minimum": 2, "maximum": 10_000},
        **COMMON_DATASET,
    },
}

MODEL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["d_model", "layers", "heads", "dropout"],
    "properties": {
        "d_model": {"type": "integer", "minimum": 2, "maximum": 16384},
        "layers": {"type": "integer", "minimum": 1, "maximum": 128},
        "heads": {"type": "integer", "minimum": 1, "maximum": 256},
        "mlp_ratio": {"type": "integer", "minimum": 1, "maximum": 16},
        "dropout": {"type": "number", "minimum": 0, "maximum": 0.9},
        "max_positions": {"type": "integer", "minimum": 5, "maximum": 4096},
    },
}

RUN = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "dataset", "model", "seed", "steps", "batch_size", "lr", "betas", "weight_decay",
        "warmup_steps", "grad_clip", "eval_every", "checkpoints",
    ],
    "properties": {
        "dataset": NAME,
        "model": NAME,
        "seed": SEED,
        "steps": {"type": "integer", "minimum": 1, "maximum": 100_000_000},
        "batch_size": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "lr": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "betas": {
            "type": "array", "minItems": 2, "maxItems": 2,
            "items": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        },
        "weight_decay": {"type": "number", "minimum": 0, "maximum": 10},
        "warmup_steps": {"type": "integer", "minimum": 0},
        "grad_clip": {"type": "number", "minimum": 0},
        "eval_every": {"type": "integer", "minimum": 1},
        "compile": {"type": "boolean"},
        "checkpoints": {
            "type": "object",
            "additionalProperties": False,
            "required": ["count", "dense_fraction", "dense_count"],
            "properties": {
                "count": {"type": "integer", "minimum": 2, "maximum": 1000},
                "dense_fraction": FRACTION_OPEN,
                "dense_count": {"type": "integer", "minimum": 1, "maximum": 1000},
            },
        },
    },
}

CONFIG = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "device", "threads_per_job", "datasets", "models", "runs", "probes", "figures", "claims"],
    "properties": {
        "name": NAME,
        "description": {"type": "string"},
        "device": {"enum": ["auto", "cpu", "cuda"]},
        "threads_per_job": {"type": "integer", "minimum": 1, "maximum": 256},
        "datasets": {
            "type": "object", "minProperties": 1, "propertyNames": NAME,
            "additionalProperties": {"oneOf": [COMPOSITION, COMPARISON]},
        },
        "models": {"type": "object", "minProperties": 1, "propertyNames": NAME, "additionalProperties": MODEL},
        "run_defaults": {"type": "object"},
        "runs": {"type": "object", "minProperties": 1, "propertyNames": NAME, "additionalProperties": RUN},
        "probes": {
            "type": "object",
            "additionalProperties": False,
            "required": ["runs", "null_seeds", "max_queries", "bootstrap_resamples", "confidence"],
            "properties": {
                "runs": NAME_LIST,
                "null_seeds": {"type": "array", "items": SEED, "minItems": 2, "uniqueItems": True},
                "max_queries": {"type": "integer", "minimum": 10, "maximum": 100_000},
                "bootstrap_resamples": {"type": "integer", "minimum": 50, "maximum": 100_000},
                "confidence": {"type": "number", "minimum": 0.5, "exclusiveMaximum": 1},
            },
        },
        "figures": {
            "type": "object",
            "additionalProperties": False,
            "required": ["accuracy_curves", "phi_sweep", "logit_lens", "dpi"],
            "properties": {
                "accuracy_curves": CURVE_FIGURE,
                "phi_sweep": CURVE_FIGURE,
                "weight_decay": CURVE_FIGURE,
                "logit_lens": {"type": "object", "required": ["run"], "properties": {"run": NAME}},
                "dpi": {"type": "integer", "minimum": 50, "maximum": 600},
            },
        },
        "claims": {
            "type": "object",
            "additionalProperties": False,
            "required": ["fit_threshold", "generalize_threshold", "memorized_threshold", "delay_ratio", "ood_ceiling",
                         "comparison_margin"],
            "properties": {
                "fit_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "generalize_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                # Training accuracy that marks the end of memorization (C7b's reference checkpoint).
                "memorized_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "delay_ratio": {"type": "number", "minimum": 1, "maximum": 1000},
                "ood_ceiling": {"type": "number", "minimum": 0, "maximum": 1},
                "comparison_margin": {"type": "number", "minimum": 0, "maximum": 1},
                "grokking_run": NAME,
                "comparison_run": NAME,
            },
        },
    },
}
