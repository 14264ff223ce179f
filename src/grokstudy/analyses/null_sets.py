"""How the null networks of a dataset and a model are named. Its own module, standard library only,
so the claims that read null tables depend on this name and not on the analysis registry."""


def null_set(dataset: str, model: str) -> str:
    """The name of the null networks of one dataset and model: every run on them shares these nulls."""
    return f"{dataset}+{model}"
