"""`livechip eval --music`: what a player hears, measured beside perplexity.

On a split of TX1 files (the test split):

- **Continuation.** `songs` files of at least prime + continuation seconds (default 24 songs, 10 s + 20 s),
  spread evenly over the sorted eligible files, each primed with its first 10 s and continued for 20 s by the
  model. Key: the cosine similarity between the pitch-class histogram (P1, P2, TR, weighted by duration) of the
  prime and that of the continuation. Groove: the same for the histogram of onset intervals (the time from
  one note-on to the next, of any voice, 10 ms bins up to 1 s). Each is measured for the model's continuation, the
  song's own (real) one and an unrelated one (the next chosen song's 10..30 s), and scaled so that unrelated
  = 0 and real = 1. Beside them the continuations' note-ons per second (all voices) against the real ones': a
  continuation that crowds its notes can look like its prime's groove (most intervals of a song are short).
- **Unprimed takes.** `takes` seeds x 60 s from nothing: note-ons per second of each voice against the split's,
  the share of time at least one voice sounds, the share all four are silent (the worst take too), the share
  of notes shorter than 20 ms.

A note lasts from its NOTEON to its voice's next event (NOTEOFF or NOTEON) or the end of the score. Song i is
continued with seed + i and take j played with seed + j, so the figures are the same on every run.

    r = music_metrics(model, tx1.find_files(["../shared/data/nesmdb_tx1/test"]), MusicConfig(songs=8))
    r["continuation"]["key"]["scaled"]
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from livechip.core import events as ev
from livechip.formats import tx1
from livechip.core.errors import LivechipError
from livechip.model.generate import generate
from livechip.model.sampling import WAIT_TEMPERATURE, SamplingSettings

TPS = ev.TICKS_PER_SECOND
BIN = TPS // 100            # onset-interval bin: 10 ms
N_BINS = 100                # intervals up to 1 s
SHORT = TPS // 50           # a note shorter than 20 ms is one no NES driver plays as a note
MELODIC = ("P1", "P2", "TR")
FIRST = 2.0                 # seconds: the opening of an unprimed take ("music from its first second")
DEFAULT_MEM_LEN = 512       # generation memory when the model folder names none


@dataclass
class MusicConfig:
    songs: int = 24                 # continued songs (0: no continuation figures)
    prime_seconds: float = 10.0
    continue_seconds: float = 20.0
    takes: int = 6                  # unprimed takes, one seed each (0: none)
    take_seconds: float = 60.0
    temperature: float = SamplingSettings.temperature     # what play samples with
    top_k: int = SamplingSettings.top_k
    top_p: float = SamplingSettings.top_p
    recall: float = SamplingSettings.recall
    seed: int = 0
    mem_len: int | None = None      # generation memory; None: the model's generation default, else 512
    wait_temperature: float | None = None   # the waits' temperature; None: the model's generation default

    def __post_init__(self):
        if self.songs < 0 or self.songs == 1:
            raise LivechipError("--songs must be 0 or at least 2 (each song's unrelated one is another song)")
        if self.takes < 0:
            raise LivechipError("--takes must be at least 0")
        if not (self.prime_seconds > 0 and self.continue_seconds > 0 and self.take_seconds > 0):
            raise LivechipError("--prime-seconds, --continue-seconds and --take-seconds must be > 0")
        if self.mem_len is not None and self.mem_len < 1:
            raise LivechipError("--mem-len must be at least 1")
        lo, hi = WAIT_TEMPERATURE
        if self.wait_temperature is not None and not lo <= self.wait_temperature <= hi:
            raise LivechipError(f"--wait-temperature must be in [{lo:g}, {hi:g}]")
        if not self.songs and not self.takes:
            raise LivechipError("nothing to measure: --songs and --takes are both 0")
        self.sampling(self.seed)

    def sampling(self, seed):
        try:
            return SamplingSettings(self.temperature, self.top_k, self.top_p, seed=seed, recall=self.recall)
        except ValueError as e:
            raise LivechipError(str(e)) from None


# --- what is in a score ----------------------------------------------------------------------------

def notes(score):
    """Every note of `score` as (voice, pitch, start, end) in ticks, ordered by the events that start them."""
    out, on = [], {}
    for e in sorted(score.events, key=ev.event_order):
        n = on.pop(e.voice, None)
        if n is not None:
            out.append((e.voice, *n, e.time))
        if e.pitch is not None:
            on[e.voice] = (e.pitch, e.time)
    out += [(v, p, s, max(s, score.end)) for v, (p, s) in on.items()]
    return out


def pitch_classes(nts, t0, t1):
    """[12] ticks each pitch class sounds on P1, P2 and TR within [t0, t1)."""
    h = np.zeros(12)
    for v, p, s, e in nts:
        d = min(e, t1) - max(s, t0)
        if d > 0 and v in MELODIC:
            h[p % 12] += d
    return h


def onset_intervals(nts, t0, t1):
    """[N_BINS] counts of the intervals between successive note-ons (of any voice) within [t0, t1), 10 ms bins;
    notes struck together give intervals of 0."""
    starts = sorted(s for v, p, s, e in nts if t0 <= s < t1)
    h = np.zeros(N_BINS)
    for d in np.diff(starts):
        if d < N_BINS * BIN:
            h[d // BIN] += 1
    return h


def cosine(a, b):
    """Cosine similarity of two histograms; 0 when either is empty."""
    n = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / n if n else 0.0


def scaled(model, real, unrelated):
    """Where `model` lies from `unrelated` (0) to `real` (1); None when the two references are equal."""
    return (model - unrelated) / (real - unrelated) if real != unrelated else None


def take_stats(nts, t0, t1):
    """Sums over [t0, t1) that pool across takes: ticks, note-ons per voice, ticks with any voice sounding,
    notes that start and end in the window (`whole`) and those of them shorter than 20 ms."""
    count = dict.fromkeys(ev.VOICES, 0)
    spans, short, whole = [], 0, 0
    for v, p, s, e in nts:
        if t0 <= s < t1:
            count[v] += 1
            if e <= t1:
                whole += 1
                short += e - s < SHORT
        if min(e, t1) > max(s, t0):
            spans.append((max(s, t0), min(e, t1)))
    sounding, reach = 0, t0
    for a, b in sorted(spans):
        if b > reach:
            sounding += b - max(a, reach)
            reach = b
    return {"ticks": t1 - t0, "notes": count, "sounding": sounding, "short": short, "whole": whole}


def pooled(stats):
    """Rates and shares of summed take_stats: notes/s per voice, sounding, silent and short-note shares."""
    ticks = sum(s["ticks"] for s in stats)
    whole = sum(s["whole"] for s in stats)
    sounding = sum(s["sounding"] for s in stats) / ticks
    return {"notes_per_second": {v: sum(s["notes"][v] for s in stats) * TPS / ticks for v in ev.VOICES},
            "sounding": sounding, "silent": 1 - sounding,
            "short_notes": sum(s["short"] for s in stats) / whole if whole else 0.0}


# --- the measurements ------------------------------------------------------------------------------

def choose_songs(scores, n, seconds):
    """Indices of `n` scores at least `seconds` long with a melodic note in the prime, spread evenly."""
    ok = [i for i, (s, nts) in enumerate(scores) if s.end >= seconds[1] and pitch_classes(nts, 0, seconds[0]).any()]
    if len(ok) < n:
        raise LivechipError(f"only {len(ok)} songs are {seconds[1] / TPS:g} s long with a melodic prime; "
                            f"--songs {n} needs {n}")
    return [ok[(2 * k + 1) * len(ok) // (2 * n)] for k in range(n)]


def continuation(model, scores, cfg, done=lambda s: None):
    """Key and groove similarities (model, real, unrelated, scaled) over the chosen songs; their indices."""
    p = round(cfg.prime_seconds * TPS)
    c = p + round(cfg.continue_seconds * TPS)
    chosen = choose_songs(scores, cfg.songs, (p, c))
    sims = {k: {"model": [], "real": [], "unrelated": []} for k in ("key", "groove")}
    onsets = {"model": 0, "real": 0, "unrelated": 0}
    for i, j in enumerate(chosen):
        score, nts = scores[j]
        other = scores[chosen[(i + 1) % len(chosen)]][1]
        primer = ev.Score([e for e in score.events if e.time < p], p)
        gen = notes(generate(model, cfg.sampling(cfg.seed + i), seconds=cfg.continue_seconds, primer=primer).score)
        for key, hist in (("key", pitch_classes), ("groove", onset_intervals)):
            ref = hist(nts, 0, p)
            for what, n in (("model", gen), ("real", nts), ("unrelated", other)):
                sims[key][what].append(cosine(ref, hist(n, p, c)))
        for what, n in (("model", gen), ("real", nts), ("unrelated", other)):
            onsets[what] += sum(p <= s < c for _, _, s, _ in n)
        done(cfg.continue_seconds)
    out = {}
    for key, d in sims.items():
        out[key] = {what: float(np.mean(v)) for what, v in d.items()}
        out[key]["scaled"] = scaled(out[key]["model"], out[key]["real"], out[key]["unrelated"])
        out[key]["per_song"] = [round(x, 4) for x in d["model"]]
    rate = {what: n / (len(chosen) * cfg.continue_seconds) for what, n in onsets.items()}
    out["density"] = {**rate, "ratio": rate["model"] / rate["real"] if rate["real"] else None}
    return out, chosen


def unprimed(model, cfg, primes=(), done=lambda s: None):
    """take_stats of each unprimed take, whole and its first FIRST seconds. A take starts as `play` does: from
    one of the model folder's warm primes (`primes`, Scores: heard by the model, not counted) where it has some."""
    t, f = round(cfg.take_seconds * TPS), round(FIRST * TPS)
    whole, first = [], []
    for j in range(cfg.takes):
        primer = primes[j % len(primes)] if primes else None
        score = generate(model, cfg.sampling(cfg.seed + j), seconds=cfg.take_seconds, primer=primer).score
        t0 = primer.end if primer is not None else 0
        own = [n for n in notes(score) if n[2] >= t0]     # the model's notes, not the primer's
        whole.append(take_stats(own, t0, t0 + t))
        first.append(take_stats(own, t0, t0 + f))
        done(cfg.take_seconds)
    return whole, first


def against(takes, test):
    """The pooled figures of the takes (take_stats) beside the split's (`test`, pooled), and each take's silence."""
    m = pooled(takes)
    rates = {}
    for v in ev.VOICES:
        a, b = m["notes_per_second"][v], test["notes_per_second"][v]
        rates[v] = {"model": a, "test": b, "ratio": a / b if b else None}
    out = {"notes_per_second": rates, **{k: {"model": m[k], "test": test[k]} for k in ("sounding", "silent",
                                                                                        "short_notes")}}
    silent = [pooled([t])["silent"] for t in takes]
    per_take = [round(x, 4) for x in silent]
    out["silent"].update(worst=max(per_take), per_take=per_take)
    return out


def music_metrics(model, paths, cfg=None, progress=False, primes=()):
    """The music metrics of `model` (a TransformerXL, or its int8 form) on the TX1 files `paths`: a dict with
    "continuation" (key and groove) and "unprimed" (density, sounding, silence, short notes; the same for the
    takes' first FIRST seconds) against the files' own figures, and the settings used. `primes`: the warm
    primes the unprimed takes start from, as `play` does (see livechip.model.primes)."""
    cfg = cfg or MusicConfig()
    scores = [(s, notes(s)) for s in map(tx1.read, paths)]
    test = pooled([take_stats(nts, 0, s.end) for s, nts in scores if s.end > 0])
    mem_len = cfg.mem_len
    if mem_len is None:
        mem_len = getattr(model, "gen_mem_len", None) or DEFAULT_MEM_LEN
    bar = None
    if progress:
        bar = tqdm(total=cfg.songs * cfg.continue_seconds + cfg.takes * cfg.take_seconds, unit="s", leave=False,
                   desc="music", bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s of music [{elapsed}<{remaining}]")
    waits = getattr(model, "gen_wait_temperature", 1.0) if cfg.wait_temperature is None else cfg.wait_temperature
    saved = getattr(model, "gen_mem_len", None), getattr(model, "gen_wait_temperature", 1.0)
    model.gen_mem_len, model.gen_wait_temperature = mem_len, waits         # what a Stream generates with
    was_training = model.training
    model.eval()
    r = {"settings": {**asdict(cfg), "mem_len": mem_len, "wait_temperature": waits}, "files": len(paths)}
    try:
        with torch.inference_mode():
            if cfg.songs:
                r["continuation"], chosen = continuation(model, scores, cfg, bar.update if bar else lambda s: None)
                r["continuation"]["songs"] = [Path(paths[j]).name for j in chosen]
            if cfg.takes:
                whole, first = unprimed(model, cfg, primes, bar.update if bar else lambda s: None)
                r["unprimed"] = against(whole, test)
                r["unprimed"]["first"] = against(first, test)
                r["unprimed"]["warm_primes"] = len(primes)
    finally:
        model.gen_mem_len, model.gen_wait_temperature = saved
        model.train(was_training)
        if bar is not None:
            bar.close()
    return r


# --- the figures as text ------------------------------------------------------------------------------

def table(r):
    """The figures as a plain text table."""
    f = lambda x, d=2: "-" if x is None else f"{x:.{d}f}"   # noqa: E731
    s = r["settings"]
    lines = []
    if "continuation" in r:
        c = r["continuation"]
        head = f"continuation: {len(c['songs'])} songs, {s['prime_seconds']:g} s primed, {s['continue_seconds']:g} s on"
        lines.append(f"{head:<46}{'model':>8}{'real':>8}{'unrel.':>8}{'scaled':>8}")
        for key, what in (("key", "key (pitch classes, P1 P2 TR)"), ("groove", "groove (onset intervals)")):
            d = c[key]
            lines.append(f"  {what:<44}{f(d['model']):>8}{f(d['real']):>8}{f(d['unrelated']):>8}"
                         f"{f(d['scaled']):>8}")
        d = c["density"]
        ratio = "-" if d["ratio"] is None else f"{d['ratio']:.2f}x"
        lines.append(f"  {'notes/s (all voices; ratio to real)':<44}{f(d['model']):>8}{f(d['real']):>8}"
                     f"{f(d['unrelated']):>8}{ratio:>8}")
    if "unprimed" in r:
        u = r["unprimed"]
        head = f"unprimed: {s['takes']} takes x {s['take_seconds']:g} s"
        lines.append(f"{head:<46}{'model':>8}{'test':>8}{'ratio':>8}")
        for v, d in u["notes_per_second"].items():
            ratio = "-" if d["ratio"] is None else f"{d['ratio']:.2f}x"
            lines.append(f"  {'notes/s ' + v:<44}{f(d['model']):>8}{f(d['test']):>8}{ratio:>8}")
        for key, what in (("sounding", "share of time a voice sounds"), ("silent", "share of time all silent"),
                          ("short_notes", "share of notes < 20 ms")):
            lines.append(f"  {what:<44}{f(u[key]['model'], 3):>8}{f(u[key]['test'], 3):>8}")
        lines.append(f"  {'worst take silent':<44}{f(u['silent']['worst'], 3):>8}")
        first = u["first"]
        head = f"their first {FIRST:g} s" + (f" (from {u['warm_primes']} warm primes)" if u["warm_primes"] else "")
        lines.append(f"  {head:<44}{'model':>8}{'test':>8}{'ratio':>8}")
        for v, d in first["notes_per_second"].items():
            ratio = "-" if d["ratio"] is None else f"{d['ratio']:.2f}x"
            lines.append(f"    {'notes/s ' + v:<42}{f(d['model']):>8}{f(d['test']):>8}{ratio:>8}")
        lines.append(f"    {'share of time all silent':<42}{f(first['silent']['model'], 3):>8}"
                     f"{f(first['silent']['test'], 3):>8}")
    return "\n".join(lines)
