"""Index build (scripts/build_index.py and `build_index`), the embedding cache, index loading."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from aurora_faq.build import NearDuplicate, build_index, embed_entries, near_duplicates
from aurora_faq.calibration import FEATURES
from aurora_faq.embed_cache import EmbeddingCache
from aurora_faq.encoders import FakeEncoder
from aurora_faq.errors import (
    EncoderMismatchError,
    FAQValidationError,
    IndexCorruptError,
    IndexFormatError,
    IndexNotFoundError,
)
from aurora_faq.faq import parse_faq, read_faq
from aurora_faq.index import REQUIRED_KEYS, load_index, read_manifest
from aurora_faq.ranking import RetrievalParams, rank
from aurora_faq.text import default_tokenizer, normalize
from tests.conftest import REPO, edit_manifest

Faq = list[dict[str, Any]]
WriteJsonl = Callable[[Path, list[Any]], Path]


def listing(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def faq_file(tmp_path: Path, tiny_faq: Faq, write_jsonl: WriteJsonl) -> Path:
    """An editable copy of the tiny FAQ, in its own directory (away from the index's parent)."""
    (tmp_path / "src").mkdir()
    return write_jsonl(tmp_path / "src" / "faq.jsonl", tiny_faq)


def build(cli: ModuleType, faq: Path, out: Path, cache: Path, *extra: str) -> int:
    return int(cli.main(["--faq", str(faq), "--out", str(out), "--encoder", "fake", "--cache", str(cache),
                         *extra]))


def test_cli_writes_an_index_with_its_manifest(build_cli: ModuleType, faq_file: Path, tmp_path: Path,
                                               tiny_faq: Faq) -> None:
    out = tmp_path / "site" / "index"

    assert build(build_cli, faq_file, out, tmp_path / "cache") == 0

    manifest = json.loads((out / "manifest.json").read_text())
    phrasings = sum(len(e.phrasings()) for e in read_faq(faq_file)[0])
    answers = sum(len(e["answer"]) for e in tiny_faq)
    assert manifest["encoder"] == "fake"
    assert manifest["dim"] == FakeEncoder.dim
    assert manifest["entries"] == len(tiny_faq)
    assert manifest["vectors"] == phrasings + answers
    assert manifest["faq_sha256"] == hashlib.sha256(faq_file.read_bytes()).hexdigest()
    built_at = datetime.fromisoformat(manifest["built_at"])
    assert built_at.utcoffset() is not None
    assert abs((datetime.now(built_at.tzinfo) - built_at).total_seconds()) < 300
    assert {"python", "aurora-faq", "numpy", "faiss-cpu"} <= set(manifest["versions"])
    assert {"entries.jsonl", "phrases.npy", "answers.npy", "phrases.faiss"} <= {p.name for p in out.iterdir()}
    # The written index loads and holds the FAQ as validated.
    index = load_index(out, "fake", default_tokenizer())
    assert [e.id for e in index.entries] == [e["id"] for e in tiny_faq]
    assert index.vectors.phrases.shape == (phrasings, FakeEncoder.dim)
    assert np.allclose(np.linalg.norm(index.vectors.phrases, axis=1), 1.0, atol=1e-5)


def test_invalid_faq_fails_lists_every_problem_and_leaves_the_index_alone(
        build_cli: ModuleType, faq_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        tiny_faq: Faq, write_jsonl: WriteJsonl) -> None:
    out = tmp_path / "index"
    assert build(build_cli, faq_file, out, tmp_path / "cache") == 0
    before = listing(out)
    bad = write_jsonl(tmp_path / "bad.jsonl", [tiny_faq[0], {"id": "x", "question": {"en": "q"}},
                                               tiny_faq[0], "not an object"])

    with caplog.at_level(logging.ERROR):
        assert build(build_cli, bad, out, tmp_path / "cache") != 0

    log = caplog.text
    assert "line 2: 'answer' must be an object" in log
    assert "line 3: duplicate id 'cancel-order' (first on line 1)" in log
    assert "line 4: each line must be a JSON object" in log
    assert listing(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "cache", "index", "src"]


def test_build_index_validates_before_writing_anything(tmp_path: Path, write_jsonl: WriteJsonl) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "x"}])
    with pytest.raises(FAQValidationError):
        build_index(bad, tmp_path / "out" / "index", FakeEncoder())
    assert not (tmp_path / "out").exists()


def test_rebuild_replaces_the_index_and_leaves_no_temporary_directories(
        build_cli: ModuleType, faq_file: Path, tmp_path: Path, tiny_faq: Faq,
        write_jsonl: WriteJsonl) -> None:
    site = tmp_path / "site"
    out = site / "index"
    assert build(build_cli, faq_file, out, tmp_path / "cache") == 0
    first = json.loads((out / "manifest.json").read_text())
    write_jsonl(faq_file, tiny_faq[:3])

    assert build(build_cli, faq_file, out, tmp_path / "cache") == 0

    second = json.loads((out / "manifest.json").read_text())
    assert second["entries"] == 3 and first["entries"] == len(tiny_faq)
    assert second["faq_sha256"] != first["faq_sha256"]
    assert [p.name for p in site.iterdir()] == ["index"]
    assert len(load_index(out, "fake", default_tokenizer()).entries) == 3


def test_rebuild_encodes_only_the_edited_text(faq_file: Path, tmp_path: Path, tiny_faq: Faq,
                                              write_jsonl: WriteJsonl, counting_encoder: Any,
                                              make_counting_encoder: Callable[[], Any]) -> None:
    cache = tmp_path / "cache"
    build_index(faq_file, tmp_path / "index", FakeEncoder(), cache_dir=cache)
    unchanged = make_counting_encoder()
    build_index(faq_file, tmp_path / "index", unchanged, cache_dir=cache)
    new_answer = "Write to support@example.com and we cancel it for you."
    tiny_faq[0]["answer"]["en"] = new_answer
    write_jsonl(faq_file, tiny_faq)

    build_index(faq_file, tmp_path / "index", counting_encoder, cache_dir=cache)

    # Compared with a rebuild of the unchanged FAQ (see the NUL-key bug below for why that
    # one is not always empty), the edit costs exactly one encoded text.
    assert counting_encoder.texts == [normalize(new_answer), *unchanged.texts]
    index = load_index(tmp_path / "index", "fake", default_tokenizer())
    row = int(index.answer_start[0]) + index.entries[0].langs.index("en")
    assert np.allclose(index.vectors.answers[row], FakeEncoder().encode_documents([normalize(new_answer)])[0])


def test_embedding_cache_is_per_encoder_and_per_kind(tmp_path: Path, counting_encoder: Any) -> None:
    cache = EmbeddingCache(tmp_path, "fake")
    first = cache.embed("q", ["a", "b", "a"], counting_encoder.encode_queries, FakeEncoder.dim)
    cache.save()
    assert counting_encoder.texts == ["a", "b"]
    assert np.array_equal(first[0], first[2])

    again = EmbeddingCache(tmp_path, "fake")
    assert np.array_equal(again.embed("q", ["b", "a"], counting_encoder.encode_queries, FakeEncoder.dim),
                          first[[1, 0]])
    again.embed("d", ["a"], counting_encoder.encode_documents, FakeEncoder.dim)  # documents are not queries
    EmbeddingCache(tmp_path, "other").embed("q", ["a"], counting_encoder.encode_queries, FakeEncoder.dim)
    assert counting_encoder.texts == ["a", "b", "a", "a"]


def test_every_cached_text_survives_a_save_and_reload(tmp_path: Path, counting_encoder: Any) -> None:
    texts = [f"t{i}" for i in range(300)]  # keys of 't147' and others end in a NUL byte
    cache = EmbeddingCache(tmp_path, "fake")
    cache.embed("q", texts, counting_encoder.encode_queries, FakeEncoder.dim)
    cache.save()
    counting_encoder.texts.clear()
    EmbeddingCache(tmp_path, "fake").embed("q", texts, counting_encoder.encode_queries, FakeEncoder.dim)
    assert counting_encoder.texts == []


def test_unreadable_embedding_cache_is_ignored_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, counting_encoder: Any) -> None:
    path = EmbeddingCache(tmp_path, "fake").path
    assert path is not None
    path.mkdir()
    (path / "000000.keys.npy").write_bytes(b"garbage")
    (path / "000000.vecs.npy").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        cache = EmbeddingCache(tmp_path, "fake")
    assert "ignoring unreadable embedding cache" in caplog.text
    cache.embed("q", ["a"], counting_encoder.encode_queries, FakeEncoder.dim)
    assert counting_encoder.texts == ["a"]


def test_a_save_appends_only_what_was_embedded_since_the_load(tmp_path: Path, counting_encoder: Any) -> None:
    first = EmbeddingCache(tmp_path, "fake")
    want = first.embed("q", ["a", "b"], counting_encoder.encode_queries, FakeEncoder.dim)
    first.save()
    assert first.path is not None
    shard0 = (first.path / "000000.vecs.npy").read_bytes()
    second = EmbeddingCache(tmp_path, "fake")
    second.embed("q", ["b", "c"], counting_encoder.encode_queries, FakeEncoder.dim)
    second.save()
    assert counting_encoder.texts == ["a", "b", "c"]
    assert (first.path / "000000.vecs.npy").read_bytes() == shard0  # not rewritten
    assert len(np.load(first.path / "000001.keys.npy")) == 1  # "c" alone
    counting_encoder.texts.clear()
    got = EmbeddingCache(tmp_path, "fake").embed("q", ["a", "b", "c"], counting_encoder.encode_queries,
                                                 FakeEncoder.dim)
    assert counting_encoder.texts == [] and np.array_equal(got[:2], want)


def test_shards_merge_into_one_past_the_limit(tmp_path: Path, counting_encoder: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from aurora_faq import embed_cache

    monkeypatch.setattr(embed_cache, "MAX_SHARDS", 3)
    texts = [f"t{i}" for i in range(5)]
    for text in texts:
        cache = EmbeddingCache(tmp_path, "fake")
        cache.embed("q", [text], counting_encoder.encode_queries, FakeEncoder.dim)
        cache.save()
    assert cache.path is not None
    assert len(list(cache.path.glob("*.keys.npy"))) <= 3
    counting_encoder.texts.clear()
    EmbeddingCache(tmp_path, "fake").embed("q", texts, counting_encoder.encode_queries, FakeEncoder.dim)
    assert counting_encoder.texts == []


def test_empty_cache_option_disables_the_cache(build_cli: ModuleType, faq_file: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    assert build_cli.main(["--faq", str(faq_file), "--out", str(tmp_path / "index"), "--encoder", "fake",
                           "--cache", ""]) == 0
    assert list(work.iterdir()) == []


def test_near_duplicates_flags_entries_sharing_a_phrasing(tiny_faq: Faq, caplog: pytest.LogCaptureFixture,
                                                          tmp_path: Path, write_jsonl: WriteJsonl) -> None:
    entries = parse_faq([json.dumps(e) for e in tiny_faq])
    assert near_duplicates(embed_entries(entries, FakeEncoder(), EmbeddingCache(None, "fake"))) == []

    tiny_faq[3]["alternates"]["en"].append("I want to cancel my purchase")  # also cancel-order's
    faq = write_jsonl(tmp_path / "faq.jsonl", tiny_faq)
    entries = read_faq(faq)[0]
    dups = near_duplicates(embed_entries(entries, FakeEncoder(), EmbeddingCache(None, "fake")))

    (dup,) = dups
    assert isinstance(dup, NearDuplicate)
    assert (dup.first, dup.second, dup.first_text, dup.second_text) == \
        ("cancel-order", "returns", "I want to cancel my purchase", "I want to cancel my purchase")
    assert dup.cosine == pytest.approx(1.0, abs=1e-5)
    with caplog.at_level(logging.WARNING):
        manifest = build_index(faq, tmp_path / "index", FakeEncoder())
    assert manifest["near_duplicates"] == 1
    assert "near-duplicate entries cancel-order and returns" in caplog.text


def test_a_one_entry_faq_builds(tmp_path: Path, write_jsonl: WriteJsonl) -> None:
    faq = write_jsonl(tmp_path / "faq.jsonl", [{
        "id": "only", "question": {"en": "How do I cancel my order?"}, "answer": {"en": "Use the form."},
        "alternates": {"en": ["cancel order", "stop my order", "cancel purchase", "undo order"]}}])
    assert build_index(faq, tmp_path / "index", FakeEncoder())["entries"] == 1


def test_background_questions_the_faq_answers_are_left_out(tmp_path: Path, write_jsonl: WriteJsonl) -> None:
    # "hello" and "tell me a joke" are built-in off-topic questions; this FAQ answers the first.
    faq = write_jsonl(tmp_path / "faq.jsonl", [{
        "id": "greeting", "question": {"en": "hello"}, "answer": {"en": "Hello! Ask me about your order."},
        "alternates": {"en": ["hi", "hi there", "good morning"]}}])
    build_index(faq, tmp_path / "index", FakeEncoder())
    index = load_index(tmp_path / "index", "fake", default_tokenizer())
    assert index.vectors.background is not None
    encoder = FakeEncoder()
    closest = index.vectors.background @ encoder.encode_queries(["hello", "tell me a joke"]).T
    assert closest[:, 0].max() < 0.99  # left out
    assert closest[:, 1].max() > 0.99  # kept
    # The off-topic signal a ranking carries, and build-time tuning asking a background question
    # with itself hidden.
    joke = encoder.encode_queries(["tell me a joke"])[0]
    params = RetrievalParams()
    assert rank(index, joke, "tell me a joke", params).background > 0.99
    hidden = int(closest[:, 1].argmax())
    assert rank(index, joke, "tell me a joke", params, exclude_background=hidden).background < 0.99


# -- loading ----------------------------------------------------------------------------------

@pytest.fixture
def broken(tiny_index_dir: Path, tmp_path: Path) -> Path:
    """A throwaway copy of the tiny index, for breaking."""
    return Path(shutil.copytree(tiny_index_dir, tmp_path / "index"))


def test_load_refuses_an_index_built_with_another_encoder(tiny_index_dir: Path) -> None:
    with pytest.raises(EncoderMismatchError, match="built with encoder 'fake' but 'e5' is configured") as info:
        load_index(tiny_index_dir, "e5", default_tokenizer())
    assert (info.value.path, info.value.built_with, info.value.configured) == (tiny_index_dir, "fake", "e5")


def test_missing_index_says_where_it_looked(tmp_path: Path) -> None:
    # The command that builds one is the caller's to add (app.main.unavailable_message).
    with pytest.raises(IndexNotFoundError, match=f"no index at {tmp_path / 'nowhere'}") as info:
        load_index(tmp_path / "nowhere", "fake", default_tokenizer())
    assert info.value.path == tmp_path / "nowhere"


@pytest.mark.parametrize(("name", "damage"), [
    ("phrases.npy", "delete"), ("phrases.npy", "garbage"), ("phrases.faiss", "delete"),
    ("entries.jsonl", "garbage"), ("phrases.json", "truncate"), ("manifest.json", "garbage"),
    ("answers.npy", "shape"),
])
def test_load_refuses_a_corrupt_index(broken: Path, name: str, damage: str) -> None:
    target = broken / name
    if damage == "delete":
        target.unlink()
    elif damage == "garbage":
        target.write_bytes(b"{not what it should be")
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:20])
    else:  # a valid file that disagrees with the manifest
        np.save(target, np.zeros((2, FakeEncoder.dim), np.float32))
    with pytest.raises(IndexCorruptError, match=f"index at {broken} .*(corrupt|inconsistent|unreadable)") as info:
        load_index(broken, "fake", default_tokenizer())
    assert info.value.path == broken


def test_load_refuses_an_index_of_another_format(broken: Path) -> None:
    edit_manifest(broken, format=99)
    with pytest.raises(IndexFormatError, match="format 99, this version reads 4"):
        load_index(broken, "fake", default_tokenizer())


@pytest.mark.parametrize("key", REQUIRED_KEYS[1:])
def test_load_refuses_a_manifest_without_a_required_key(broken: Path, key: str) -> None:
    edit_manifest(broken, **{key: None})
    with pytest.raises(IndexFormatError, match=f"manifest without {key}"):
        read_manifest(broken)
    with pytest.raises(IndexFormatError):
        load_index(broken, "fake", default_tokenizer())


@pytest.mark.parametrize("key", ["calibration", "calibration_across_languages"])
def test_load_refuses_an_index_calibrated_on_another_feature_list(broken: Path, key: str) -> None:
    manifest = json.loads((broken / "manifest.json").read_text())
    assert manifest[key] is not None and manifest[key]["features"] == list(FEATURES)
    edit_manifest(broken, **{key: {**manifest[key], "features": [*FEATURES[:-1], "old_signal"]}})
    with pytest.raises(IndexFormatError, match=r"calibrated on other features.*missing \['clf\*unknown_name'\], "
                                               r"unknown \['old_signal'\]"):
        load_index(broken, "fake", default_tokenizer())


def test_near_duplicates_of_a_large_faq_come_from_an_approximate_scan(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from aurora_faq import build as build_module

    faq = tmp_path / "faq.jsonl"
    subprocess.run([sys.executable, "bench/synth_faq.py", "--entries", "1000", "--out", str(faq)],
                   cwd=REPO, check=True)
    entries = read_faq(faq)[0]  # 4,000 phrasing rows
    index = embed_entries(entries, FakeEncoder(), EmbeddingCache(None, "fake"))
    exact = {(d.first, d.second) for d in near_duplicates(index)}
    monkeypatch.setattr(build_module, "NEAR_DUPLICATE_EXACT_ROWS", 1000)
    approximate = {(d.first, d.second) for d in near_duplicates(index)}
    assert len(exact) > 50  # the synthetic catalogue repeats itself
    assert len(exact & approximate) >= 0.98 * len(exact)
