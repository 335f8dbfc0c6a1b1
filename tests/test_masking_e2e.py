"""Personal data sent to a real server (`python -m app`) in searches, suggestions and feedback
comments, Japanese and English, reaches neither its database (rows and files) nor its output."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import httpx

from app.storage.models import Feedback, Search
from aurora_faq.masking import mask
from tests.server import serve
from tests.services import NO_RATE_LIMITS, stored_rows

# (text, what of it must not be kept). Full-width spellings are checked in their NFKC form too,
# and anything with 7 digits or more as its bare digits.
PERSONAL: list[tuple[str, tuple[str, ...]]] = [
    ("メールは taro.yamada@example.co.jp です", ("taro.yamada@example.co.jp", "taro.yamada")),
    ("ｈａｎａｋｏ．ｓｕｚｕｋｉ＠ｅｘａｍｐｌｅ．ｎｅ．ｊｐ に連絡ください",
     ("ｈａｎａｋｏ．ｓｕｚｕｋｉ＠ｅｘａｍｐｌｅ．ｎｅ．ｊｐ", "hanako.suzuki")),
    ("電話番号は090-4817-2263です", ("090-4817-2263", "4817-2263")),
    ("ハイフンなし09031415926に電話ください", ("09031415926",)),
    ("全角で０８０－２７１８－２８１８へ", ("０８０－２７１８－２８１８", "２７１８－２８１８")),
    ("全角ハイフンなし０７０１２３４９８７６", ("０７０１２３４９８７６",)),
    ("固定電話 03-5412-7788 まで", ("03-5412-7788", "5412-7788")),
    ("フリーダイヤル0120-444-987", ("0120-444-987", "444-987")),
    ("#5831 の注文がまだ届きません", ("#5831", "5831")),
    ("注文番号 7319 をキャンセルしたい", ("注文番号 7319", "7319")),
    ("ご注文番号：AB-7731 の配送状況", ("AB-7731",)),
    ("問い合わせ番号 20261130559 について", ("20261130559",)),
    ("カード 4111 1111 1111 1111 で払えない", ("4111 1111 1111 1111",)),
    ("カード４２４２４２４２４２４２４２４２が使えない", ("４２４２４２４２４２４２４２４２",)),
    ("Please email me at john.smith+shop@mail.example.com", ("john.smith+shop@mail.example.com", "john.smith")),
    ("Call me on +81 90 6622 1357 please", ("+81 90 6622 1357", "6622 1357")),
    ("my number is 080 5566 7788", ("080 5566 7788", "5566 7788")),
    ("Where is order no. 66218?", ("order no. 66218", "66218")),
    ("order #48213 never arrived", ("#48213", "48213")),
    ("card 5500-0000-0000-0004 was declined", ("5500-0000-0000-0004",)),
    ("tracking 99812736455 shows nothing", ("99812736455",)),
]


def spellings(secret: str) -> set[str]:
    """`secret` as written, in NFKC (what is stored is NFKC) and as bare digits."""
    nfkc = unicodedata.normalize("NFKC", secret)
    digits = re.sub(r"\D", "", nfkc)
    return {secret, nfkc} | ({digits} if len(digits) >= 7 else set())


SECRETS = {form for _, secrets in PERSONAL for secret in secrets for form in spellings(secret)}
# A short bare number may turn up in a log line or a file by chance (a pid, a port, a time's
# microseconds): it is looked for in the stored text only.
LONG_SECRETS = {s for s in SECRETS if not re.fullmatch(r"\d{1,6}", s)}


def leaked(haystack: str, secrets: set[str]) -> list[str]:
    return sorted(s for s in secrets if s in haystack)


def send_everything(client: httpx.Client, answer_id: str, data_dir: Path) -> None:
    """Each text as a search (GET and POST), a suggestion, and feedback with and without its search;
    and refused: feedback on an unknown search, a comment and a question too long."""
    query_ids = []
    for text, _ in PERSONAL:
        r = client.get("/v1/search", params={"q": text})
        assert r.status_code == 200, r.text
        query_ids.append(r.json()["query_id"])
        assert client.post("/v1/search", json={"q": text}).status_code == 200
        assert client.get("/v1/suggest", params={"q": text}).status_code == 200
    for (text, _), query_id in zip(PERSONAL, query_ids, strict=True):
        for extra in ({"query_id": query_id}, {}):
            r = client.post("/v1/feedback", json={"answer_id": answer_id, "helpful": False, "comment": text, **extra})
            assert r.status_code == 201, r.text
        refused = [
            client.post("/v1/feedback", json={"query_id": "f" * 32, "answer_id": answer_id, "helpful": True,
                                              "comment": text}),
            client.post("/v1/feedback", json={"answer_id": answer_id, "helpful": True, "comment": text + "あ" * 1000}),
            client.get("/v1/search", params={"q": text + " " + "x" * 1000}),
        ]
        assert [r.status_code for r in refused] == [404, 422, 422]


def test_personal_data_is_neither_stored_nor_logged(index_dir: Path, tmp_path: Path, faq: dict[str, Any]) -> None:
    data_dir = tmp_path / "data"
    # Debug: the most the service ever writes about a request.
    with serve(index_dir, tmp_path, env={**NO_RATE_LIMITS, "AURORA_DATA_DIR": str(data_dir)},
               args=["--log-level", "debug"]) as server:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            send_everything(client, next(iter(faq)), data_dir)
        server.process.terminate()  # a clean shutdown: the log writes what it still holds
        server.process.wait(15)
        output = server.output()
    assert "Application shutdown complete" in output  # uvicorn's, once the lifespan has closed storage

    queries = [row.query for row in stored_rows(Search, None, data_dir)]
    comments = [row.comment for row in stored_rows(Feedback, None, data_dir)]
    # Everything arrived, masked: so the checks below look at real rows.
    assert sorted(queries) == sorted(mask(text) for text, _ in PERSONAL for _ in range(2))
    assert sorted(comments) == sorted(mask(text) for text, _ in PERSONAL for _ in range(2))
    assert leaked("\n".join(queries + comments), SECRETS) == []
    # Nor anywhere in the database's files (the WAL, free pages, other tables).
    files = sorted(p for p in data_dir.iterdir() if p.is_file())
    assert files and all(leaked(p.read_bytes().decode("utf-8", "replace"), LONG_SECRETS) == [] for p in files)
    # The output is there (a line a search), and holds none of it.
    assert output.count(" /v1/search 200 ") >= 2 * len(PERSONAL)
    assert leaked(output, LONG_SECRETS) == []
