"""Token spellings shared by the generators, the tokenizer and the probes."""

PAD = "<pad>"
UNK = "<unk>"
QUERY = "<q>"
MASK = "<mask>"
LABELS = ("<lt>", "<eq>", "<gt>")
SPECIALS = (PAD, UNK, QUERY, MASK, *LABELS)


def entity(i: int) -> str:
    return f"<e_{i}>"


def relation(i: int) -> str:
    return f"<r_{i}>"


def attribute(i: int) -> str:
    return f"<a_{i}>"


def value(i: int) -> str:
    return f"<v_{i}>"


def composition_vocabulary(n_entities: int, n_relations: int) -> list[str]:
    return [*SPECIALS, *map(entity, range(n_entities)), *map(relation, range(n_relations))]


def comparison_vocabulary(n_entities: int, n_attributes: int, n_values: int) -> list[str]:
    return [
        *SPECIALS,
        *map(entity, range(n_entities)),
        *map(attribute, range(n_attributes)),
        *map(value, range(n_values)),
    ]
