"""Human-readable evaluation output: the console table and the Markdown report with a
reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

KEYS = ("queries", "in_scope", "out_of_scope", "recall_at_1", "recall_at_5", "mrr", "ndcg_at_10",
        "auroc", "answered_rate", "wrong_answer_rate", "refused_rate", "answer_precision", "ece")
# The headline figures, one row per language and per style: (key, column heading).
BREAKDOWN = (("queries", "queries"), ("in_scope", "in scope"), ("recall_at_1", "top-1"),
             ("answered_rate", "answered"), ("wrong_answer_rate", "wrong"),
             ("out_of_scope", "out of scope"), ("refused_rate", "refused"))


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def table(rep: dict[str, Any]) -> str:
    """Overall and per-language figures, one column each."""
    cols = [("all", rep)] + list(rep["by_lang"].items())
    lines = [f"{'metric':<18}" + "".join(f"{name:>10}" for name, _ in cols)]
    for key in KEYS:
        lines.append(f"{key:<18}" + "".join(f"{_fmt(c.get(key)):>10}" for _, c in cols))
    lat = rep["latency_ms"]
    lines.append(f"latency ms/query   mean {lat['mean']:.2f}  p50 {lat['p50']:.2f}  p95 {lat['p95']:.2f}")
    if rep["confusions"]:
        lines.append("most confused (gold → answered instead: count):")
        lines.extend(f"  {g} → {p}: {n}" for g, p, n in rep["confusions"][:10])
    return "\n".join(lines)


def _breakdown_rows(rep: dict[str, Any]) -> list[list[str]]:
    groups = [("all", rep)] + [(f"lang {k}", v) for k, v in rep["by_lang"].items()] + \
        list(rep.get("by_style", {}).items())
    return [[name] + [_fmt(figures.get(key)) for key, _ in BREAKDOWN] for name, figures in groups]


def breakdown_table(rep: dict[str, Any], markdown: bool = False) -> str:
    """The headline figures overall, per language and per style, as text or a Markdown table.

    "wrong" is answered with an entry that does not answer it, as a share of in-scope queries;
    "refused" is of the out-of-scope ones (clarify counts as refused).
    """
    head = ["group"] + [title for _, title in BREAKDOWN]
    rows = _breakdown_rows(rep)
    if markdown:
        return "\n".join(["| " + " | ".join(head) + " |", "|---" * len(head) + "|"] +
                          ["| " + " | ".join(r) + " |" for r in rows])
    width = max(len(r[0]) for r in [head, *rows]) + 2
    return "\n".join(f"{r[0]:<{width}}" + "".join(f"{c:>13}" for c in r[1:]) for r in [head, *rows])


def checklist(rep: dict[str, Any]) -> str:
    """The judging figures (`evaluation.targets`), one line each: measured value, met or not."""
    lines = []
    for t in rep["targets"]:
        mark = {True: "[x]", False: "[ ]", None: "[-]"}[t["met"]]
        verdict = {True: "met", False: "NOT MET", None: "nothing to measure"}[t["met"]]
        lines.append(f"- {mark} {t['name']} {'≤' if t['at_most'] else '≥'} {t['bound']:.2f}: "
                     f"{_fmt(t['value'])} over {t['queries']} queries, {verdict}")
    return "\n".join(lines)


def sweep_table(rep: dict[str, Any]) -> str:
    lines = ["| threshold | coverage (in scope answered) | precision of answers | refused (should not answer) |",
             "|---|---|---|---|"]
    lines.extend(f"| {r['threshold']:.2f} | {r['coverage']:.3f} | {r['precision']:.3f} | {r['refused']:.3f} |"
                 for r in rep["sweep"])
    return "\n".join(lines)


def write_markdown(rep: dict[str, Any], out: Path, title: str) -> None:
    """Markdown report beside a PNG reliability diagram (`<out stem>.reliability.png`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = out.with_suffix(".reliability.png")
    rel = rep["reliability"]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax.bar([r["bin"] + 0.05 for r in rel], [r["accuracy"] for r in rel], width=0.09, alpha=0.7,
           label="accuracy of top answer")
    ax.plot([r["confidence"] for r in rel], [r["accuracy"] for r in rel], "o-", color="C3",
            label="mean confidence → accuracy")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="fraction correct",
           title=f"Reliability (ECE {_fmt(rep['ece'])})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    rel_rows = "\n".join(f"| {r['bin']:.1f}–{r['bin'] + 0.1:.1f} | {r['count']} | {r['confidence']:.3f} | "
                         f"{r['accuracy']:.3f} |" for r in rel)
    out.write_text(
        f"# {title}\n\n```\n{table(rep)}\n```\n\n"
        f"## By language and style\n\n{breakdown_table(rep, markdown=True)}\n\n"
        f"## Judging figures\n\n{checklist(rep)}\n\n"
        f"## Reliability\n\n![reliability]({png.name})\n\n"
        f"| confidence | queries | mean confidence | accuracy |\n|---|---|---|---|\n{rel_rows}\n\n"
        f"## Threshold sweep\n\n{sweep_table(rep)}\n",
        encoding="utf-8",
    )
