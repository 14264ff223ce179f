from transformers import AutoTokenizer

from grokstudy.data import store


def test_tokenizer_round_trip(composition_dir):
    tokenizer = AutoTokenizer.from_pretrained(composition_dir / store.TOKENIZER_DIR)
    frame = store.read_train(composition_dir)
    for prompt in [*list(frame["prompt"].iloc[[0, -1]]), "<e_3> <r_7> <r_1>"]:
        ids = tokenizer(prompt)["input_ids"]
        assert len(ids) == len(prompt.split(" ")), "one id per prompt token, no BOS or EOS"
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == prompt
    assert tokenizer.convert_tokens_to_ids(frame["answer"].iloc[0]) != tokenizer.unk_token_id
    manifest = store.read_manifest(composition_dir)
    assert len(tokenizer) == manifest["vocabulary_size"]
