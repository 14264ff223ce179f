"""Reading what checkpoints compute: logit lens, per-checkpoint accuracy, null networks."""
