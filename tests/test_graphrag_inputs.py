"""Documents in: paths, globs, folders, DataFrames and the formats people have (issue #16).

Every case goes through the public entry points (``build_index``, ``idx.update``,
``load_documents``) with real files written here — including a PDF written byte by byte and
read by the real ``pypdf`` — and checks what a user would see: which documents, which text,
which metadata, and the one line that names a file that could not be read.
"""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from shared_data import CAROL, needs_fixtures

from lmsnb.errors import GraphIndexError
from lmsnb.graphrag import GraphIndex, build_index, estimate
from lmsnb.graphrag.inputs import load_documents
from lmsnb.graphrag.llm import Completion
from lmsnb.sim.graphrag_stub import respond_messages

DATA = Path(__file__).resolve().parents[1] / "notebooks" / "data"
PART1 = (DATA / "christmas_carol_part1.txt").read_text(encoding="utf-8")
PART2 = (DATA / "christmas_carol_part2.txt").read_text(encoding="utf-8")
FAST = dict(method="fast", embedding_model=False, cache_dir=None, progress=False)


class StubLLM:
    """In-process chat model answering like the simulator's ``graphrag`` behaviour."""

    key = "stub-llm"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages, *, json_schema=None, max_tokens=None, temperature=None):
        self.calls += 1
        return Completion(respond_messages(messages, json_schema))


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF (Helvetica text, one content stream per page), written by hand."""
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        shown = " ".join(f"({esc(line)}) Tj T*" for line in text.split("\n")) if text else ""
        stream = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET"
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>")
        objs.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out, offsets = b"%PDF-1.4\n", []
    for k, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{k} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            f"%%EOF\n").encode()
    return out


@pytest.fixture
def carol(tmp_path: Path) -> Path:
    """A folder like tutorial 05's: two texts and a README about them."""
    folder = tmp_path / "carol"
    folder.mkdir()
    (folder / "part1.txt").write_text(PART1, encoding="utf-8")
    (folder / "part2.txt").write_text(PART2, encoding="utf-8")
    (folder / "README.md").write_text("# Tutorial data\n\nThese files are from Project "
                                      "Gutenberg.\n", encoding="utf-8")
    return folder


# -- paths, globs, folders -------------------------------------------------------------------


def test_a_list_of_paths_indexes_the_files_not_the_path_strings(carol):
    paths = sorted(glob.glob(str(carol / "*.txt")))
    idx = build_index(paths, **FAST)
    assert list(idx.documents["title"]) == ["part1.txt", "part2.txt"]
    assert list(idx.documents["text"]) == [PART1, PART2]
    assert list(idx.documents["source"]) == paths
    assert "SCROOGE" in set(idx.entities["title"])
    # the same files as pathlib.Path objects, and one Path on its own
    same = build_index([Path(p) for p in paths], **FAST)
    assert list(same.documents["id"]) == list(idx.documents["id"])
    one = build_index(carol / "part1.txt", **FAST)
    assert list(one.documents["text"]) == [PART1]


def test_the_tutorial_folder_gives_its_texts_not_its_readme(capsys):
    idx = build_index(str(DATA), method="fast", embedding_model=False, cache_dir=None,
                      progress="text")
    assert sorted(idx.documents["title"]) == ["christmas_carol_part1.txt",
                                              "christmas_carol_part2.txt"]
    out = capsys.readouterr().out
    assert (f"[lmsnb.graphrag] 2 files from {DATA} → 2 documents, "
            f"{len(PART1) + len(PART2):,} characters: christmas_carol_part1.txt, "
            f"christmas_carol_part2.txt\n") in out
    assert "[lmsnb.graphrag] skipped README.md: excluded by 'README*' (pass exclude=() to " \
           "keep it)\n" in out
    assert idx.meta["inputs"]["skipped"] == [
        {"source": str(DATA / "README.md"),
         "reason": "excluded by 'README*' (pass exclude=() to keep it)"}]


def test_folders_are_read_recursively_with_include_and_exclude_patterns(carol):
    (carol / "more" / "drafts").mkdir(parents=True)
    (carol / "more" / "stave2.md").write_text("Scrooge saw the Ghost of Christmas Past.",
                                              encoding="utf-8")
    (carol / "more" / "drafts" / "old.txt").write_text("An old draft about Marley.",
                                                       encoding="utf-8")
    (carol / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (carol / ".ipynb_checkpoints").mkdir()  # JupyterLab's copies: never documents
    (carol / ".ipynb_checkpoints" / "part1-checkpoint.txt").write_text(PART1, encoding="utf-8")

    docs, report = load_documents(carol)
    assert list(docs["title"]) == ["more/drafts/old.txt", "more/stave2.md", "part1.txt",
                                   "part2.txt"]
    skipped = dict(zip(report.skipped["source"], report.skipped["reason"], strict=True))
    assert skipped[str(carol / "README.md")].startswith("excluded by 'README*'")
    assert skipped[f"{carol}/"].startswith("1 file not included (.png ×1)")

    docs, report = load_documents(carol, include="*.txt", exclude=["drafts"])
    assert list(docs["title"]) == ["part1.txt", "part2.txt"]
    assert "excluded by 'drafts'" in str(report)
    assert "3 files not included (.md ×2, .png ×1); include= patterns choose a folder's " \
           "files (now: *.txt)" in str(report)  # exclude=[...] replaced the README default
    docs, _ = load_documents(carol, include=["more/**/*.txt", "*.MD"], exclude=())
    assert list(docs["title"]) == ["README.md", "more/drafts/old.txt", "more/stave2.md"]


def test_glob_patterns_span_folders_and_name_what_matched_nothing(carol):
    (carol / "sub").mkdir()
    (carol / "sub" / "part3.txt").write_text("Fezziwig danced with Mrs Fezziwig.",
                                             encoding="utf-8")
    docs, _ = load_documents(str(carol / "**" / "*.txt"))
    assert list(docs["title"]) == ["part1.txt", "part2.txt", "sub/part3.txt"]
    docs, report = load_documents(str(carol / "*"))
    assert list(docs["title"]) == ["part1.txt", "part2.txt"]  # README excluded, sub/ a folder
    assert "README.md: excluded by 'README*'" in str(report)
    with pytest.raises(GraphIndexError, match=r"No files match '.*\*\.pdf'"):
        load_documents(str(carol / "*.pdf"))


@pytest.mark.parametrize("item, match", [
    ("missing/notes.txt", "No file or folder at 'missing/notes.txt'"),
    ("my_docs/", "No file or folder at 'my_docs/'"),
    ("chapter1.md", "No file or folder at 'chapter1.md'"),
    (Path("nowhere.txt"), "No file or folder at 'nowhere.txt'"),
    ("docs/**/*.md", r"No files match 'docs/\*\*/\*\.md'"),
    ("https://example.com/carol.html", "lmsnb reads files, it does not download"),
])
def test_a_path_that_does_not_exist_is_an_error_naming_it(item, match, carol, monkeypatch):
    monkeypatch.chdir(carol)
    with pytest.raises(GraphIndexError, match=match):
        build_index(item, **FAST)
    with pytest.raises(GraphIndexError, match=match):  # also inside a list of files
        build_index(["part1.txt", item], **FAST)


def test_a_mixed_list_takes_each_item_for_what_it_is(carol, monkeypatch):
    monkeypatch.chdir(carol)
    frame = pd.DataFrame({"title": ["Marley"], "text": ["Marley was dead: to begin with."]})
    docs, report = load_documents(["Scrooge met Bob Cratchit in the counting-house.",
                                   "part1.txt", Path("part2.txt"), frame, "What is this?"])
    assert list(docs["title"]) == ["document 0", "part1.txt", "part2.txt", "Marley",
                                   "document 4"]
    assert list(docs["source"]) == [None, "part1.txt", "part2.txt", None, None]
    assert docs["text"][1] == PART1 and docs["text"][4] == "What is this?"
    assert report.files == 2 and report.documents == 5
    assert str(report).startswith("2 files, 2 texts, 1 DataFrame → 5 documents")
    with pytest.raises(GraphIndexError, match="item 1 is a list"):
        load_documents(["a text", ["nested"]])
    with pytest.raises(GraphIndexError, match="Cannot index bytes"):
        load_documents(b"bytes")


def test_an_empty_folder_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GraphIndexError, match=r"no text to index: skipped .*empty/: no files in "
                                              "it"):
        build_index(tmp_path / "empty", **FAST)
    (tmp_path / "empty" / "blank.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(GraphIndexError, match=r"no text to index: skipped .*blank.txt: empty"):
        build_index(tmp_path / "empty", **FAST)


def test_duplicate_documents_are_taken_once_and_reported(carol):
    (carol / "z_copy.txt").write_text(PART1, encoding="utf-8")
    docs, report = load_documents(carol)
    assert list(docs["title"]) == ["part1.txt", "part2.txt"]
    assert "z_copy.txt: same text as 'part1.txt'" in str(report)


# -- encodings and binary files --------------------------------------------------------------


def test_a_binary_file_named_txt_is_refused_by_name(carol):
    (carol / "photo.txt").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(GraphIndexError, match=r"Cannot index .*photo\.txt: binary, not text"):
        build_index(carol / "photo.txt", **FAST)
    docs, report = load_documents(carol)  # in a folder: skipped, with its name and why
    assert "photo.txt" not in set(docs["title"]) and len(docs) == 2
    assert "photo.txt: binary, not text (it contains zero bytes)" in str(report)
    # no zero bytes, still not text
    (carol / "noise.txt").write_bytes(bytes(range(1, 32)) * 40)
    with pytest.raises(GraphIndexError, match=r"noise\.txt: binary, not text"):
        load_documents(carol / "noise.txt")


@pytest.mark.parametrize("encoding, expect_note", [
    ("utf-16", "read as utf-16"),            # Windows "Unicode": UTF-16 LE with a BOM
    ("utf-16-be", "read as utf-16-be"),      # no BOM: recognised by its zero bytes
    ("utf-8-sig", ""),                       # Notepad's UTF-8 with BOM
    ("cp1252", "read as cp1252"),            # Windows Western European
])
def test_encodings_are_detected(tmp_path, encoding, expect_note):
    text = "Fröhliche Weihnachten — said Scrooge’s nephew Fred, “a merry Christmas!” ½ café"
    (tmp_path / "x.txt").write_bytes(text.encode(encoding))
    docs, report = load_documents(tmp_path / "x.txt")
    assert docs["text"][0] == text
    assert report.taken["note"][0] == expect_note


def test_latin1_and_unknown_encodings(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("Ça coûte 5 ¤ à Noël chez Mme Müller".encode("latin-1"))
    docs, report = load_documents(tmp_path / "latin1.txt")
    assert docs["text"][0] == "Ça coûte 5 ¤ à Noël chez Mme Müller"
    assert report.taken["note"][0] == "read as cp1252"  # Latin-1's letters are cp1252's
    (tmp_path / "mostly.txt").write_bytes("Scrooge’s café — ".encode() * 30 + b"\xff end")
    docs, report = load_documents(tmp_path / "mostly.txt")  # UTF-8 with one broken byte
    assert docs["text"][0].startswith("Scrooge’s café — ") and "\ufffd end" in docs["text"][0]
    assert report.taken["note"][0] == "read as utf-8, 1 invalid byte replaced"
    (tmp_path / "russian.txt").write_bytes("Скрудж встретил Марли в Лондоне.".encode("cp1251"))
    with pytest.raises(GraphIndexError, match=r"russian\.txt: not UTF-8, UTF-16 or Latin-1 "
                                              r"text .* pass encoding="):
        load_documents(tmp_path / "russian.txt")
    docs, _ = load_documents(tmp_path / "russian.txt", encoding="cp1251")
    assert docs["text"][0] == "Скрудж встретил Марли в Лондоне."
    with pytest.raises(GraphIndexError, match="Unknown encoding 'klingon'"):
        load_documents(tmp_path / "russian.txt", encoding="klingon")


# -- formats ---------------------------------------------------------------------------------


def test_markdown_front_matter_is_metadata_not_text(tmp_path):
    (tmp_path / "stave1.md").write_text(
        "---\ntitle: Marley's Ghost\nauthor: Charles Dickens\nyear: 1843\ntags: [ghost, "
        "christmas]\n---\n# Stave One\n\nMarley was dead.\n", encoding="utf-8")
    (tmp_path / "broken.md").write_text("---\ntitle: [unclosed\n---\nScrooge.\n",
                                        encoding="utf-8")
    docs, report = load_documents(tmp_path)
    row = docs.set_index("title").loc["stave1.md"]
    assert row["text"] == "# Stave One\n\nMarley was dead.\n"
    assert row["raw_data"] == {"title": "Marley's Ghost", "author": "Charles Dickens",
                               "year": 1843, "tags": ["ghost", "christmas"]}
    assert docs.set_index("title").loc["broken.md", "text"].startswith("---\ntitle: [unclosed")
    assert "broken.md (front matter is not valid YAML (line 3): kept as text)" in str(report)


def test_html_gives_the_visible_text_only(tmp_path):
    (tmp_path / "page.html").write_text("""<!DOCTYPE html>
<html><head><title>Stave  One</title><meta charset="utf-8">
<style>body { color: red; } .ghost { display: none }</style>
<script>var secret = "TRACKING_CODE"; console.log(secret);</script></head>
<body><h1>A Christmas Carol</h1>
<p>Marley was <b>dead</b>, to begin with &amp; there is no doubt.</p>
<script type="module">document.write("INJECTED")</script>
<div hidden>HIDDEN TEXT</div><span aria-hidden="true">ICON</span>
<p style="display: none">INVISIBLE</p><noscript>ENABLE JAVASCRIPT</noscript>
<ul><li>Scrooge</li><li>Bob Cratchit</li></ul>
<template><p>TEMPLATE</p></template><svg><text>SVG LABEL</text></svg>
</body></html>""", encoding="utf-8")
    docs, _ = load_documents(tmp_path / "page.html")
    text = docs["text"][0]
    assert text == ("A Christmas Carol\n\nMarley was dead, to begin with & there is no "
                    "doubt.\n\nScrooge\nBob Cratchit")
    for hidden in ("TRACKING", "color", "INJECTED", "HIDDEN", "ICON", "INVISIBLE", "ENABLE",
                   "TEMPLATE", "SVG", "Stave"):
        assert hidden not in text
    assert docs["raw_data"][0] == {"title": "Stave One"}
    # a page in a legacy encoding that says so in its <meta charset>
    (tmp_path / "jp.htm").write_bytes('<html><head><meta charset="shift_jis"><title>クリスマス'
                                      '</title></head><body><p>スクルージ</p></body></html>'
                                      .encode("shift_jis"))
    docs, _ = load_documents(tmp_path / "jp.htm")
    assert docs["text"][0] == "スクルージ" and docs["raw_data"][0] == {"title": "クリスマス"}


def test_pdf_text_is_extracted_page_by_page(tmp_path):
    (tmp_path / "carol.pdf").write_bytes(make_pdf([
        "Scrooge and Marley were partners.\nBob Cratchit (the clerk) kept the fire low.",
        "Fred invited his uncle Scrooge to dinner."]))
    (tmp_path / "scan.pdf").write_bytes(make_pdf(["", ""]))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf body")
    docs, report = load_documents(tmp_path)
    assert list(docs["title"]) == ["carol.pdf"]
    assert docs["text"][0] == ("Scrooge and Marley were partners.\nBob Cratchit (the clerk) "
                               "kept the fire low.\n\nFred invited his uncle Scrooge to dinner.")
    assert docs["raw_data"][0] == {"pages": 2}
    assert "scan.pdf: no text layer (2 pages of images?)" in str(report)
    assert "broken.pdf: not a readable PDF" in str(report)
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04\x14\x00\x06\x00" * 20)  # a zip
    with pytest.raises(GraphIndexError, match=r"notes\.docx: a \.docx file, a format lmsnb does "
                                              r"not read .* pandoc"):
        build_index(tmp_path / "notes.docx", **FAST)
    idx = build_index(tmp_path / "carol.pdf", **FAST)
    assert {"SCROOGE", "MARLEY"} <= set(idx.entities["title"])


def test_pdf_without_pypdf_gives_the_install_line(tmp_path, monkeypatch):
    (tmp_path / "carol.pdf").write_bytes(make_pdf(["Scrooge."]))
    monkeypatch.setitem(sys.modules, "pypdf", None)  # as if not installed
    with pytest.raises(GraphIndexError, match=r"carol\.pdf: a PDF, and reading PDFs needs "
                                              r"pypdf \(not installed\) — pip install "
                                              r"'lmsnb\[pdf\]'"):
        build_index(tmp_path / "carol.pdf", **FAST)


def test_csv_rows_are_documents_with_their_other_columns_as_metadata(tmp_path):
    pd.DataFrame({
        "title": ["Stave One", "Stave Two"],
        "text": [PART1[:2000], PART2[:2000]],
        "chapter": [1, 2],
        "narrator": ["Dickens", None],
    }).to_csv(tmp_path / "staves.csv", index=False)
    idx = build_index(tmp_path / "staves.csv", **FAST)
    docs = idx.documents
    assert list(docs["title"]) == ["Stave One", "Stave Two"]
    assert list(docs["text"]) == [PART1[:2000], PART2[:2000]]
    assert list(docs["raw_data"]) == [{"chapter": 1, "narrator": "Dickens"},
                                      {"chapter": 2, "narrator": None}]
    assert set(docs["source"]) == {str(tmp_path / "staves.csv")}
    # saved and loaded back: source and metadata survive, in GraphRAG's documents table
    back = GraphIndex.from_parquet(idx.to_parquet(tmp_path / "out"))
    assert list(back.documents["raw_data"]) == list(docs["raw_data"])
    assert list(back.documents["source"]) == list(docs["source"])


def test_csv_text_column_detection_and_choice(tmp_path):
    review = "Scrooge's transformation is the heart of the book, and it still works today."
    pd.DataFrame({"name": ["Ann", "Bo"], "review": [review, review + " Yes."],
                  "stars": [5, 4]}).to_csv(tmp_path / "reviews.csv", index=False)
    docs, report = load_documents(tmp_path / "reviews.csv")  # the only long-text column
    assert list(docs["text"]) == [review, review + " Yes."]
    assert list(docs["title"]) == ["reviews.csv (0)", "reviews.csv (1)"]
    assert docs["raw_data"][0] == {"name": "Ann", "stars": 5}
    assert "text from 'review'" in str(report)
    pd.DataFrame({"summary": [review] * 2, "review": [review + "!", review + "?"]}) \
        .to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(GraphIndexError, match=r"two\.csv: which column is the text\? several "
                                              r"columns hold long text: summary \(~7\d "
                                              r"characters\), review .*text_column="):
        load_documents(tmp_path / "two.csv")
    docs, _ = load_documents(tmp_path / "two.csv", text_column="review", title_column="summary")
    assert list(docs["text"]) == [review + "!", review + "?"] and docs["title"][0] == review
    with pytest.raises(GraphIndexError, match=r"no column 'body' \(it has: summary, review\)"):
        load_documents(tmp_path / "two.csv", text_column="body")
    (tmp_path / "semi.csv").write_text("text;lang\nMarley was dead.;en\nScrooge lebt.;de\n",
                                       encoding="utf-8")
    (tmp_path / "tabs.tsv").write_text("lang\ttext\nen\tMarley was dead.\nde\tScrooge lebt.\n",
                                       encoding="utf-8")
    for name in ("semi.csv", "tabs.tsv"):
        docs, _ = load_documents(tmp_path / name)
        assert list(docs["text"]) == ["Marley was dead.", "Scrooge lebt."]
        assert docs["raw_data"][1] == {"lang": "de"}


def test_json_and_jsonl_records(tmp_path):
    records = [{"id": 7, "content": {"body": "Marley was dead.", "lang": "en"},
                "meta": {"author": "Dickens"}},
               {"id": 8, "content": {"body": "Scrooge knew he was dead.", "lang": "en"},
                "meta": {"author": "Dickens"}}]
    (tmp_path / "a.json").write_text(json.dumps({"documents": records}), encoding="utf-8")
    docs, _ = load_documents(tmp_path / "a.json", text_column="content.body")
    assert list(docs["text"]) == ["Marley was dead.", "Scrooge knew he was dead."]
    assert docs["raw_data"][0] == {"id": 7, "content.lang": "en", "meta.author": "Dickens"}
    (tmp_path / "b.jsonl").write_text(
        '{"text": "Bob Cratchit was the clerk.", "page": 3}\n\n'
        '{"text": "Fred was the nephew.", "page": 4}\n', encoding="utf-8")
    docs, _ = load_documents(tmp_path / "b.jsonl")
    assert list(docs["text"]) == ["Bob Cratchit was the clerk.", "Fred was the nephew."]
    assert list(docs["raw_data"]) == [{"page": 3}, {"page": 4}]
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(GraphIndexError, match=r"bad\.jsonl: line 2 is not JSON"):
        load_documents(tmp_path / "bad.jsonl")
    (tmp_path / "strings.json").write_text('["Scrooge.", "Marley."]', encoding="utf-8")
    docs, _ = load_documents(tmp_path / "strings.json")
    assert list(docs["text"]) == ["Scrooge.", "Marley."]


# -- DataFrames ------------------------------------------------------------------------------


def test_dataframes_with_text_title_and_metadata_columns():
    df = pd.DataFrame({"heading": ["One", "Two"], "body": ["Marley was dead.", "Scrooge sat."],
                       "year": [1843, 1843], "url": ["u1", None]})
    docs, report = load_documents(df, title_column="heading")
    assert list(docs["title"]) == ["One", "Two"]
    assert list(docs["text"]) == ["Marley was dead.", "Scrooge sat."]
    assert list(docs["raw_data"]) == [{"year": 1843, "url": "u1"}, {"year": 1843, "url": None}]
    assert "text from 'body', title from 'heading'" in str(report)
    # a built index's documents table goes back in unchanged (ids, sources, metadata)
    idx = build_index(df, title_column="heading", **FAST)
    again, _ = load_documents(idx.documents)
    for col in ("id", "title", "text", "raw_data", "source", "creation_date"):
        assert list(again[col]) == list(idx.documents[col]), col
    docs, _ = load_documents({"Stave One": "Marley was dead.", "Stave Two": "Scrooge sat."})
    assert list(docs["title"]) == ["Stave One", "Stave Two"]


# -- update() with the same inputs -----------------------------------------------------------


def test_update_with_a_folder_adds_only_the_new_files(carol, tmp_path, capsys):
    (carol / "part2.txt").rename(tmp_path / "part2.txt")
    llm = StubLLM()
    idx = build_index(carol, llm=llm, embedding_model=False, cache_dir=None, progress=False,
                      chunk_size=300, chunk_overlap=30)
    assert list(idx.documents["title"]) == ["part1.txt"]
    (tmp_path / "part2.txt").rename(carol / "part2.txt")
    upd = StubLLM()
    idx2 = idx.update(carol, llm=upd, progress="text")
    out = capsys.readouterr().out
    assert list(idx2.documents["title"]) == ["part1.txt", "part2.txt"]
    assert list(idx2.documents["source"]) == [str(carol / "part1.txt"), str(carol / "part2.txt")]
    new_units = len(idx2.text_units) - len(idx.text_units)
    assert idx2.stats.set_index("stage").loc["extract_graph", "calls"] == new_units > 0
    assert f"1 file from {carol} → 1 document, {len(PART2):,} characters: part2.txt" in out
    assert "skipped part1.txt: already in the index" in out
    assert "skipped README.md: excluded" in out
    # the same folder again: nothing new, no calls
    again = StubLLM()
    idx3 = idx2.update(carol, llm=again)
    assert again.calls == 0 and len(idx3.documents) == 2
    assert "nothing to update" in capsys.readouterr().out


def test_update_takes_globs_lists_csv_and_options_and_the_fast_rebuild_keeps_sources(tmp_path):
    (tmp_path / "a.txt").write_text(PART1, encoding="utf-8")
    idx = build_index([str(tmp_path / "a.txt")], **FAST)
    (tmp_path / "b.txt").write_text(PART2, encoding="utf-8")
    pd.DataFrame({"text": ["Fezziwig gave a ball for his apprentices Dick Wilkins and "
                           "Ebenezer."], "who": ["Fezziwig"]}).to_csv(tmp_path / "c.csv",
                                                                      index=False)
    idx2 = idx.update(str(tmp_path / "*.txt"), progress=False)
    assert list(idx2.documents["title"]) == ["a.txt", "b.txt"]
    idx3 = idx2.update(glob.glob(str(tmp_path / "*.csv")), progress=False)
    assert list(idx3.documents["source"]) == [str(tmp_path / n) for n in ("a.txt", "b.txt",
                                                                         "c.csv")]
    assert idx3.documents["raw_data"][2] == {"who": "Fezziwig"}
    assert "DICK WILKINS" in set(idx3.entities["title"])
    idx4 = idx3.update(tmp_path, include="*.md", progress=False)  # an option passes through
    assert len(idx4.documents) == 3
    with pytest.raises(GraphIndexError, match="No file or folder at 'd.txt'"):
        idx3.update("d.txt")


def test_estimate_reads_the_same_inputs(carol):
    assert estimate(carol).attrs["chunks"] == estimate(str(carol / "*.txt")).attrs["chunks"]
    only1 = estimate(carol, include="part1.txt", chunk_size=300, chunk_overlap=30)
    both = estimate(carol, chunk_size=300, chunk_overlap=30)
    assert 0 < only1.attrs["chunks"] < both.attrs["chunks"]


def test_metadata_whose_types_differ_between_files_still_saves(tmp_path):
    (tmp_path / "a.md").write_text("---\nyear: 1843\n---\nScrooge met Marley in London.\n",
                                   encoding="utf-8")
    (tmp_path / "b.md").write_text("---\nyear: eighteen forty-three\ntags: [ghost]\n---\n"
                                   "Bob Cratchit met Fred in London.\n", encoding="utf-8")
    idx = build_index(tmp_path, **FAST)
    back = GraphIndex.from_parquet(idx.to_parquet(tmp_path / "out"))
    assert list(back.documents["raw_data"]) == [{"year": 1843},
                                                {"year": "eighteen forty-three",
                                                 "tags": ["ghost"]}]


@needs_fixtures
def test_updating_an_index_graphrag_wrote_gives_new_documents_their_source(tmp_path):
    old = GraphIndex.from_parquet(CAROL)
    (tmp_path / "extra.txt").write_text(PART2, encoding="utf-8")
    idx = old.update(tmp_path, **FAST)
    docs = idx.documents
    assert list(docs["title"]) == ["a-christmas-carol.txt", "extra.txt"]
    assert list(docs["source"]) == [None, str(tmp_path / "extra.txt")]
    assert idx.meta["inputs"]["documents"] == 1
