from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path

import pytest

from knowledge import ChunkingPolicy, HFTokenizer, ParsedDocument, chunk_document, mask_document, parse_document
from knowledge.chunking import CONTEXT_SEPARATOR


def test_policy_follows_the_model_window() -> None:
    minilm = ChunkingPolicy.for_window(256)
    assert (minilm.max_tokens, minilm.target_tokens, minilm.overlap_tokens) == (254, 200, 30)
    large = ChunkingPolicy.for_window(8191)
    assert 700 <= large.target_tokens <= 1200
    assert large.overlap_tokens == 100
    with pytest.raises(ValueError):
        ChunkingPolicy(max_tokens=100, target_tokens=200, overlap_tokens=10)


def test_tokenizer_reads_the_window_from_the_model_folder(tokenizer: HFTokenizer) -> None:
    assert tokenizer.max_tokens == 256
    assert tokenizer.special_tokens == 2
    assert tokenizer.count("Olá, academia!") == 5  # ol ##a , academia !


def test_chunks_fit_the_window_and_slice_the_source_exactly(
    parsed: dict[str, ParsedDocument], tokenizer: HFTokenizer
) -> None:
    policy = ChunkingPolicy.for_window(tokenizer.max_tokens)
    for name, doc in parsed.items():
        chunks = chunk_document(doc, tokenizer)
        assert chunks, name
        for chunk in chunks:
            assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
            assert chunk.token_count == tokenizer.count(chunk.embed_text)
            assert chunk.token_count + tokenizer.special_tokens <= tokenizer.max_tokens
            assert chunk.token_count <= policy.max_tokens
        # Together the chunks cover every section of the document.
        for section in doc.sections:
            assert any(c.char_start <= section.char_start and section.char_end <= c.char_end for c in chunks) or any(
                c.char_start < section.char_end and section.char_start < c.char_end for c in chunks
            ), (name, section.text[:60])


def test_markdown_chunk_offsets_point_into_the_uploaded_file(kb_docs: dict[str, Path], tokenizer: HFTokenizer) -> None:
    raw = kb_docs["manual-operacoes-unidades.md"].read_text(encoding="utf-8")
    chunks = chunk_document(parse_document(raw.encode()), tokenizer)
    assert len(chunks) > 40  # ~7,300 words need many chunks
    for chunk in chunks:
        assert raw[chunk.char_start : chunk.char_end] == chunk.text


def test_chunks_are_about_the_target_size(parsed: dict[str, ParsedDocument], tokenizer: HFTokenizer) -> None:
    target = ChunkingPolicy.for_window(tokenizer.max_tokens).target_tokens
    chunks = chunk_document(parsed["manual-operacoes-unidades.md"], tokenizer)
    sizes = sorted(c.token_count for c in chunks)
    assert 120 <= sizes[len(sizes) // 2] <= target, sizes
    # Only the last chunk under a heading may pass the target (it absorbs a short tail).
    for chunk, following in itertools.pairwise(chunks):
        if chunk.token_count > target:
            assert following.heading_path != chunk.heading_path, chunk.text[:80]


def test_chunks_follow_headings_and_sentences(parsed: dict[str, ParsedDocument], tokenizer: HFTokenizer) -> None:
    doc = parsed["manual-operacoes-unidades.md"]
    chunks = chunk_document(doc, tokenizer)
    for chunk in chunks:
        # Within one heading: every section the chunk touches has the chunk's heading path.
        touched = [s for s in doc.sections if s.char_start < chunk.char_end and chunk.char_start < s.char_end]
        assert {s.heading_path for s in touched if not s.is_heading} <= {chunk.heading_path}
        assert chunk.context == " > ".join(chunk.heading_path)
        assert chunk.embed_text.startswith(chunk.context + CONTEXT_SEPARATOR)
        # Never mid-sentence here: prose chunks end at a sentence end, list item or line end.
        after = doc.text[chunk.char_end : chunk.char_end + 1]
        assert after in ("", "\n") or re.search(r"[.!?:;)*|]$", chunk.text), chunk.text[-80:]


def test_long_sections_overlap_by_whole_sentences(parsed: dict[str, ParsedDocument], tokenizer: HFTokenizer) -> None:
    chunks = chunk_document(parsed["manual-operacoes-unidades.md"], tokenizer)
    overlaps = [
        (a, b) for a, b in itertools.pairwise(chunks) if a.heading_path == b.heading_path and b.char_start < a.char_end
    ]
    assert overlaps
    for a, b in overlaps:
        shared = a.text[b.char_start - a.char_start :]
        assert b.text.startswith(shared)
        assert tokenizer.count(shared) <= 30


def test_content_hashes_are_stable_and_local(parsed: dict[str, ParsedDocument], tokenizer: HFTokenizer) -> None:
    doc = parsed["politicas.txt"]
    first = chunk_document(doc, tokenizer)
    assert [c.content_hash for c in first] == [c.content_hash for c in chunk_document(doc, tokenizer)]
    # Editing one clause changes the hashes around it, not those of the rest of the document.
    edited_text = doc.text.replace("multa rescisória de\n  20%", "multa rescisória de\n  25%")
    assert edited_text != doc.text
    edited = parse_document(edited_text.encode(), filename="politicas.txt")
    second = chunk_document(edited, tokenizer)
    changed = {c.content_hash for c in first} ^ {c.content_hash for c in second}
    assert 0 < len(changed) <= 4
    assert len({c.content_hash for c in first} & {c.content_hash for c in second}) >= len(first) - 2


def test_pathological_text_is_still_cut_within_the_window(tokenizer: HFTokenizer) -> None:
    # No sentence ends and no spaces: punctuation makes it ~3,000 tokens in one "word".
    # (A long run of letters would not do: WordPiece maps any word over 100 chars to [UNK].)
    blob = "ab," * 1500
    doc = parse_document(f"# Anexo\n\n{blob}\n".encode(), filename="anexo.md")
    chunks = chunk_document(doc, tokenizer)
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.token_count <= 254
        assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
    # Cuts inside a word still cover the whole blob.
    assert chunks[-1].char_end == len(doc.text.rstrip())


def test_large_window_policy_makes_larger_chunks(parsed: dict[str, ParsedDocument], tokenizer: HFTokenizer) -> None:
    big = replace(ChunkingPolicy.for_window(8191), max_tokens=8189)
    doc = parsed["manual-operacoes-unidades.md"]
    small_chunks = chunk_document(doc, tokenizer)
    big_chunks = chunk_document(doc, tokenizer, big)
    assert len(big_chunks) < len(small_chunks)
    assert max(c.token_count for c in big_chunks) > 254


def test_masked_document_chunks_carry_no_pii(parsed: dict[str, ParsedDocument], tokenizer: HFTokenizer) -> None:
    """The ingestion order (parse -> mask -> chunk) leaves no raw value in what gets embedded."""
    doc = mask_document(parsed["cases-clientes.docx"])
    chunks = chunk_document(doc, tokenizer)
    joined = "\n".join(c.embed_text for c in chunks)
    for value in ("820.435.397-95", "89518420025", "45514630000112", "(31) 98877-1203", "lourdes.ferraz@"):
        assert value not in joined
    assert "[CPF]" in joined
    assert all(doc.text[c.char_start : c.char_end] == c.text for c in chunks)
