"""scripts/report.py and app/report.py: the analytics as a self-contained HTML page and a PNG chart,
read from the service's database; and personal data, masked when stored, shown nowhere."""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from app.report import chart_png, render_html
from app.settings import Settings
from app.storage.analytics import Analytics
from tests.conftest import ClientFactory, _load_script

PNG = b"\x89PNG\r\n\x1a\n"
ADMIN = {"Authorization": "Bearer k"}
EMAIL, PHONE, ORDER = "hanako.sato@example.co.jp", "090-1234-5678", "12345678"
# Three shoppers paste their details into the same question; each is stored masked.
PERSONAL = [f"ギフト券つかえる？ {EMAIL} {PHONE} 注文番号 {ORDER}", f"gift card? mail me at {EMAIL}",
            f"ギフト券 使える 電話 {PHONE} 注文 {ORDER}"]


@pytest.fixture(scope="module")
def report_cli() -> ModuleType:
    """scripts/report.py as a module (call its `main(argv)`)."""
    return _load_script("report")


@pytest.fixture
def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The service's settings as the CLI reads them: from AURORA_* variables."""
    monkeypatch.setenv("AURORA_INDEX_PATH", str(settings.index_path))
    monkeypatch.setenv("AURORA_ENCODER", settings.encoder)
    monkeypatch.setenv("AURORA_DATA_DIR", str(settings.data_dir))
    return settings


def stored(make_client: ClientFactory, queries: list[str], comment: str | None = None) -> dict[str, object]:
    """Search `queries` through the service, give feedback on the first; the analytics it serves."""
    with make_client(admin_key="k", rate_limit_search="") as client:
        ids = [client.get("/v1/search", params={"q": q}).json()["query_id"] for q in queries]
        client.app.state.storage.log.flush()  # type: ignore[attr-defined]
        assert client.post("/v1/feedback", json={"query_id": ids[0], "answer_id": "payment-methods",
                                                 "helpful": True, "comment": comment}).status_code == 201
        body = client.get("/v1/admin/analytics", params={"min_shoppers": 1}, headers=ADMIN).json()
        body["feedback"] = client.get("/v1/admin/feedback", headers=ADMIN).json()
        return dict(body)


def test_the_page_is_self_contained_with_the_chart_inside(make_client: ClientFactory) -> None:
    body = stored(make_client, ["<script>alert(1)</script>", "送料はいくらですか", "how much is shipping"])
    body.pop("feedback")
    analytics = Analytics.model_validate(body)
    page = render_html(analytics, chart_png(analytics))
    [chart] = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(chart).startswith(PNG)
    assert re.findall(r"\b(?:src|href)=", page) == ["src="]  # the chart alone, and it is a data: URI
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # stored text is escaped
    assert "送料はいくらですか" in page


def test_the_cli_writes_html_png_and_json_from_the_service_database(
        make_client: ClientFactory, environment: Settings, report_cli: ModuleType, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    stored(make_client, ["ギフト券つかえる？", "ギフト券使える", "ｷﾞﾌﾄ券 使える", "送料はいくらですか"])
    out = [tmp_path / "r.html", tmp_path / "r.png", tmp_path / "r.json"]
    assert report_cli.main(["--html", str(out[0]), "--png", str(out[1]), "--json", str(out[2]),
                            "--min-shoppers", "3"]) == 0
    analytics = Analytics.model_validate_json(out[2].read_text(encoding="utf-8"))
    assert sum(r.searches for r in analytics.totals) == 4
    assert out[1].read_bytes().startswith(PNG)
    page = out[0].read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "ギフト券" in page
    assert analytics.top_queries[0].searches == 3  # three spellings of one phrasing
    assert f"wrote {out[0]}" in capsys.readouterr().out


def test_the_cli_says_when_there_is_no_database(environment: Settings, report_cli: ModuleType, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert report_cli.main(["--html", str(tmp_path / "r.html")]) == 2
    assert "no stored searches" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_without_matplotlib_the_page_says_so_and_a_chart_is_refused(
        make_client: ClientFactory, environment: Settings, report_cli: ModuleType, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stored(make_client, ["送料はいくらですか"])
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    assert report_cli.main(["--html", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "aurora-faq[report]" in page and "data:image" not in page
    assert report_cli.main(["--png", str(tmp_path / "r.png")]) == 2
    assert "aurora-faq[report]" in capsys.readouterr().err
    assert not (tmp_path / "r.png").exists()


def test_personal_data_is_shown_nowhere(make_client: ClientFactory, environment: Settings, report_cli: ModuleType,
                                       tmp_path: Path) -> None:
    body = stored(make_client, PERSONAL, comment=f"連絡は {EMAIL} か {PHONE} へ、注文番号 {ORDER}")
    api = json.dumps(body, ensure_ascii=False)
    assert report_cli.main(["--html", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json"),
                            "--min-shoppers", "1"]) == 0
    shown = {"api": api, "html": (tmp_path / "r.html").read_text(encoding="utf-8"),
             "json": (tmp_path / "r.json").read_text(encoding="utf-8")}
    for where, text in shown.items():
        for secret in (EMAIL, "hanako", PHONE, "09012345678", ORDER):
            assert secret not in text, f"{secret} in the {where}"
    # What is shown is the masked text, where the question itself was.
    assert "<email>" in api and "<phone>" in api and "<order>" in api
    assert "&lt;email&gt;" in shown["html"]
