"""Human-readable evaluation output: the console table and the Markdown report with a
reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

KEYS = ("queries", "in_scope", "out_of_scope", "recall_at_1", "recall_at_5", "mrr", "ndcg_at_10",
        "auroc", "answered_rate", "refused_rate", "answer_precision", "ece")


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
        f"# {title}\n\n```\n{table(rep)}\n```\n\n## Reliability\n\n![reliability]({png.name})\n\n"
        f"| confidence | queries | mean confidence | accuracy |\n|---|---|---|---|\n{rel_rows}\n\n"
        f"## Threshold sweep\n\n{sweep_table(rep)}\n",
        encoding="utf-8",
    )
