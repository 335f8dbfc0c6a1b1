"""Synthetic shop FAQs of any size, in Japanese and English, from templates (for bench/build_bench.py).

    .venv/bin/python bench/synth_faq.py --entries 10000 --out faq.jsonl [--queries 300 --queries-out q.txt]

Every entry asks about one (topic, product, brand) combination, so entries are distinct but
many look alike, as in a real catalogue FAQ: each has a question and one alternate in each
language and a short answer in each. Written to a temporary directory, never committed.
With `--queries`, also shopper-like questions about the catalogue, one a line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

# (english, japanese) pairs
PRODUCTS = [
    ("cotton shirt", "コットンシャツ"), ("linen dress", "リネンワンピース"),
    ("denim jacket", "デニムジャケット"), ("wool coat", "ウールコート"), ("leather bag", "レザーバッグ"),
    ("canvas tote", "キャンバストート"), ("silk scarf", "シルクスカーフ"), ("knit sweater", "ニットセーター"),
    ("pleated skirt", "プリーツスカート"), ("wide pants", "ワイドパンツ"), ("sneakers", "スニーカー"),
    ("ankle boots", "ショートブーツ"), ("sandals", "サンダル"), ("bucket hat", "バケットハット"),
    ("wallet", "財布"), ("wristwatch", "腕時計"), ("necklace", "ネックレス"),
    ("earrings", "ピアス"), ("sunglasses", "サングラス"), ("umbrella", "傘"),
    ("pajamas", "パジャマ"), ("socks", "靴下"), ("belt", "ベルト"),
    ("backpack", "リュック"), ("hoodie", "パーカー"), ("cardigan", "カーディガン"),
    ("trench coat", "トレンチコート"), ("gloves", "手袋"), ("rain boots", "レインブーツ"),
    ("swimsuit", "水着"), ("blouse", "ブラウス"), ("polo shirt", "ポロシャツ"),
    ("down jacket", "ダウンジャケット"), ("chino pants", "チノパン"), ("loafers", "ローファー"),
    ("beanie", "ニット帽"), ("card case", "カードケース"), ("pouch", "ポーチ"),
    ("ring", "リング"), ("bracelet", "ブレスレット"),
]
BRANDS = [f"{a}{b}" for a, b in itertools.product(
    ["Aur", "Lum", "Nor", "Sak", "Kai", "Mio", "Ren", "Yuk", "Tom", "Ada"],
    ["ora", "ina", "den", "ura", "ko", "lys"])]
# (question en, question ja, alternate en, alternate ja, answer en, answer ja); {p} product, {b} brand
TOPICS = [
    ("What sizes does the {b} {p} come in?", "{b}の{p}のサイズ展開を教えてください",
     "{b} {p} size chart", "{b} {p} サイズ表",
     "The {b} {p} comes in XS to XL; see the size chart on its product page.",
     "{b}の{p}はXSからXLまでご用意しています。商品ページのサイズ表をご覧ください。"),
    ("Can I return the {b} {p} if it does not fit?", "{b}の{p}が合わなかった場合、返品できますか？",
     "return {b} {p}", "{b} {p} 返品したい",
     "Yes: unworn {b} {p} can be returned within 14 days of delivery.",
     "はい、未使用の{b}の{p}はお届けから14日以内であれば返品を承ります。"),
    ("How do I wash the {b} {p}?", "{b}の{p}のお手入れ方法は？",
     "{b} {p} washing instructions", "{b} {p} 洗濯 方法",
     "Hand-wash the {b} {p} in cold water and dry it flat in the shade.",
     "{b}の{p}は水で手洗いし、陰で平干ししてください。"),
    ("When will the {b} {p} be back in stock?", "{b}の{p}の再入荷はいつですか？",
     "{b} {p} restock", "{b} {p} 再入荷 予定",
     "Restock dates for the {b} {p} are announced on its product page; register for an alert there.",
     "{b}の{p}の再入荷日は商品ページでお知らせします。入荷通知をご登録ください。"),
    ("Is the {b} {p} available in other colours?", "{b}の{p}に他の色はありますか？",
     "{b} {p} colours", "{b} {p} カラー展開",
     "The {b} {p} comes in the colours shown on its product page.",
     "{b}の{p}のカラーは商品ページに掲載しているものがすべてです。"),
    ("Can the {b} {p} be gift-wrapped?", "{b}の{p}はギフト包装できますか？",
     "{b} {p} gift wrapping", "{b} {p} ラッピング",
     "Yes, choose gift wrapping for the {b} {p} at checkout (330 yen).",
     "はい、ご注文手続きの際に{b}の{p}のギフト包装（330円）をお選びください。"),
    ("What is the {b} {p} made of?", "{b}の{p}の素材は何ですか？",
     "{b} {p} material", "{b} {p} 素材",
     "The materials of the {b} {p} are listed under 'Details' on its product page.",
     "{b}の{p}の素材は商品ページの「詳細」欄に記載しています。"),
    ("Does the {b} {p} ship overseas?", "{b}の{p}は海外発送できますか？",
     "ship {b} {p} abroad", "{b} {p} 海外 発送",
     "The {b} {p} ships to the countries listed on our overseas shipping page.",
     "{b}の{p}は海外配送ページに掲載の国・地域へお届けできます。"),
]


def entries(n: int, seed: int = 0) -> Iterator[dict[str, object]]:
    """`n` distinct FAQ entries in the public FAQ format (both languages).

    Raises:
        ValueError: more entries asked for than the templates can make distinct.
    """
    combos = list(itertools.product(range(len(TOPICS)), range(len(PRODUCTS)), range(len(BRANDS))))
    if n > len(combos) * 6:
        raise ValueError(f"at most {len(combos) * 6} synthetic entries, asked for {n}")
    random.Random(seed).shuffle(combos)
    for i in range(n):
        t, p, b = combos[i % len(combos)]
        variant = i // len(combos)  # past every combination: the same one, in another edition
        topic, (p_en, p_ja), brand = TOPICS[t], PRODUCTS[p], BRANDS[b]
        if variant:
            brand = f"{brand} {variant + 1}"
        q_en, q_ja, a_en, a_ja, ans_en, ans_ja = (s.format(b=brand, p=p_en if k % 2 == 0 else p_ja)
                                                   for k, s in enumerate(topic))
        yield {"id": f"synthetic-{i}", "category": f"topic-{t}",
               "question": {"en": q_en, "ja": q_ja}, "answer": {"en": ans_en, "ja": ans_ja},
               "alternates": {"en": [a_en], "ja": [a_ja]}}


def write_faq(path: Path, n: int, seed: int = 0) -> Path:
    """Write an `n`-entry synthetic FAQ to `path` (JSONL). Returns `path`."""
    with open(path, "w", encoding="utf-8") as f:
        for entry in entries(n, seed):
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return path


def queries(n: int, seed: int = 1) -> list[str]:
    """Shopper-like questions about the synthetic catalogue, worded unlike the FAQ's own."""
    rng = random.Random(seed)
    forms_en = ["{p} from {b}: {t}?", "question about {b} {p} - {t}", "{t} for the {p} by {b}"]
    forms_ja = ["{b}の{p}って{t}", "{p}（{b}）の{t}について", "{b} {p} {t}？"]
    asks_en = ["sizes", "returns", "washing", "restock", "colours", "gift wrap", "material", "overseas"]
    asks_ja = ["サイズは", "返品は", "洗える？", "再入荷は", "色違いある？", "包装は", "素材は",
               "海外に送れる？"]
    out = []
    for _ in range(n):
        t, (p_en, p_ja), b = rng.randrange(len(TOPICS)), rng.choice(PRODUCTS), rng.choice(BRANDS)
        if rng.random() < 0.5:
            out.append(rng.choice(forms_en).format(p=p_en, b=b, t=asks_en[t]))
        else:
            out.append(rng.choice(forms_ja).format(p=p_ja, b=b, t=asks_ja[t]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, required=True, help="FAQ entries to write")
    parser.add_argument("--out", type=Path, required=True, help="the FAQ file (JSONL) to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--queries", type=int, default=0, help="also this many shopper questions")
    parser.add_argument("--queries-out", type=Path, help="where the questions go, one a line")
    args = parser.parse_args(argv)
    if args.queries and args.queries_out is None:
        parser.error("--queries needs --queries-out")
    try:
        write_faq(args.out, args.entries, args.seed)
    except ValueError as e:
        parser.error(str(e))
    if args.queries:
        args.queries_out.write_text("".join(f"{q}\n" for q in queries(args.queries, args.seed + 1)),
                                    encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
