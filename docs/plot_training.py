"""Draw a model's training and validation curves from its runs' logs (`livechip train` writes OUT/log.jsonl).

    .venv/bin/python docs/plot_training.py models/default/training/run*.jsonl -o models/default/training.png

Each log is one run; runs follow one another (a run's tokens count on from the previous run's last line). Lines
with "valid_ppl" give the validation curve, lines with "loss" the training loss (as a perplexity). Needs
matplotlib (`pip install matplotlib`), which livechip itself does not.
"""

import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402


def read(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("logs", nargs="+", help="log.jsonl files, one per run, in order")
    ap.add_argument("-o", "--output", required=True, help="the PNG to write")
    ap.add_argument("--title", default="livechip default model")
    args = ap.parse_args()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    start = 0
    for k, path in enumerate(args.logs, 1):
        rows = read(path)
        subset = rows[0].get("subset", "")
        t = [(start + r["tokens"]) / 1e6 for r in rows]
        line, = ax.plot(t, [r["valid_ppl"] for r in rows], "o-", ms=3, label=f"run {k} validation{subset}")
        losses = [(x, math.exp(r["loss"])) for x, r in zip(t, rows) if "loss" in r]
        if losses:
            ax.plot(*zip(*losses), "x:", ms=4, color=line.get_color(), label=f"run {k} training (one batch)")
        start += rows[-1]["tokens"]
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel("tokens seen (millions)")
    ax.set_ylabel("perplexity")
    ax.set_title(args.title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
