"""`livechip eval`: mean negative log-likelihood per event, and perplexity, of a model on TX1 files.

By default this is LakhNES's `model/eval.py` as `reproduce_paper_eval.sh` runs it on NES-MDB, so the published
perplexities can be reproduced:

- each file becomes `<S> events <S>` after dropping a leading and a trailing wait; songs shorter than 10 tokens
  (both `<S>` counted) are skipped; waits snap to the vocabulary as LakhNES's does;
- the songs (files in sorted order) are dealt to `batch_size` parallel streams: a stream takes the next song
  when its current one is used up, its last `<S>` is predicted and the next song's `<S>` is the next input;
- each segment of `tgt_len` tokens per stream is scored with the memory of the previous segments (at most
  `mem_len` positions), never reset between songs; the last batch, which some stream cannot fill, is dropped;
- defaults: 10 streams, tgt_len 128, mem_len 896 (the paper's evaluation settings), the model's own
  clamp_len and same_length.

`all_tokens=True` (`--all-tokens`) scores every token of every file instead: short songs are kept and the last
batch is scored as far as it goes.
"""

import math
from contextlib import nullcontext

import numpy as np
import torch
from tqdm import tqdm

from livechip.core import events
from livechip.formats import tx1
from livechip.core.errors import LivechipError
from livechip.model.recall import Recall, lean

PAPER_BATCH_SIZE, PAPER_TGT_LEN, PAPER_MEM_LEN = 10, 128, 896   # LakhNES model/reproduce_paper_eval.sh
MIN_SONG_TOKENS = 10                                             # LakhNES skips shorter songs in evaluation


def song_tokens(path):
    """Token ids of one TX1 file framed for evaluation: <S>, the events without a leading and trailing wait, <S>."""
    ids = events.score_to_tokens(tx1.read(path))
    if ids and events.is_wait(ids[0]):
        ids = ids[1:]
    if ids and events.is_wait(ids[-1]):
        ids = ids[:-1]
    return [events.START] + ids + [events.START]


def batches(songs, batch_size, tgt_len, all_tokens=False):
    """Yield (inputs, targets), int64 arrays [batch_size, tgt_len], in the order LakhNES's eval iterator does.

    Targets are -1 where nothing is scored (only at the end, with all_tokens). Without all_tokens the
    iteration stops at the first batch that some stream cannot fill, which is dropped.
    """
    songs = iter(songs)
    streams = [None] * batch_size     # what is left of each stream's current song; its first token is the next input
    while True:
        inp = np.zeros((batch_size, tgt_len), dtype=np.int64)
        tgt = np.full((batch_size, tgt_len), -1, dtype=np.int64)
        for i in range(batch_size):
            n = 0
            while n < tgt_len:
                if streams[i] is None or len(streams[i]) <= 1:
                    streams[i] = next(songs, None)
                    if streams[i] is None:
                        if not all_tokens:
                            return
                        break
                k = min(len(streams[i]) - 1, tgt_len - n)
                inp[i, n:n + k] = streams[i][:k]
                tgt[i, n:n + k] = streams[i][1:k + 1]
                streams[i] = streams[i][k:]
                n += k
        if (tgt < 0).all():
            return
        yield inp, tgt


@torch.no_grad()
def nll(model, segments, mem_len, autocast=nullcontext, bar=None, recall=0.0):
    """(NLL summed in nats, tokens scored) of `model` on `segments`: (inputs, targets) int64 tensors [B, T]
    scored in order with memory of at most `mem_len` positions; targets < 0 are not scored. With `recall`, each
    stream's distributions are leaned towards its note-ons so far (every input counts as heard), as generation
    leans them (livechip.model.recall)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count, mems = 0.0, 0, None
    recalls = clocks = None
    try:
        for inp, tgt in segments:
            with autocast():
                logits, mems = model(inp.to(device), mems, mem_len=mem_len)            # (B, T, V)
            logp = torch.log_softmax(logits.float(), dim=-1)                         # (B, T, V)
            if recall:
                if recalls is None:
                    recalls, clocks = [Recall() for _ in inp], [[0, None] for _ in inp]
                bias = recall * _recall_bias(recalls, clocks, inp)
                logp = torch.log_softmax(lean(logp.cpu(), bias), -1).to(device)
            t = tgt.to(device)                                                       # (B, T)
            loss = -logp.gather(-1, t.clamp(min=0).unsqueeze(-1)).squeeze(-1)       # (B, T)
            scored = t >= 0                                                          # (B, T)
            total += loss[scored].double().sum().item()
            count += int(scored.sum())
            if bar is not None:
                bar.update()
    finally:
        model.train(was_training)
    return total, count


def _recall_bias(recalls, clocks, inp):
    """[B, T, V] each stream's recall bias after hearing each of its inputs; `clocks[b]` is stream b's [tick,
    tick of its last note-on], carried from segment to segment."""
    out = torch.empty(*inp.shape, events.N_TOKENS)
    for b, (r, clock) in enumerate(zip(recalls, clocks)):
        for t, tok in enumerate(inp[b].tolist()):
            if events.is_wait(tok):
                clock[0] += events.wait_ticks(tok)
            elif events.is_note_on(tok):
                clock[1] = clock[0]
            r.add((tok,), 0, (clock[0],))   # no revokes here: the position is not needed
            since = clock[0] - clock[1] if clock[1] is not None else None
            out[b, t] = r.bias(since if since is not None and since <= events.TICKS_PER_SECOND else None)
    return out


def evaluate(model, songs, batch_size=PAPER_BATCH_SIZE, tgt_len=PAPER_TGT_LEN, mem_len=PAPER_MEM_LEN,
             all_tokens=False, progress=False, recall=0.0):
    """Mean NLL per scored token (nats) and perplexity of `model` on `songs` (framed token-id lists), the
    distributions leaned by `recall` as generation does (0: the network alone)."""
    if batch_size < 1 or tgt_len < 1 or mem_len < 0:
        raise LivechipError("batch size and tgt_len must be at least 1, mem_len at least 0")
    n_songs = len(songs)
    if not all_tokens:
        songs = [s for s in songs if len(s) >= MIN_SONG_TOKENS]
    arrays = [np.asarray(s, dtype=np.int64) for s in songs]
    todo = list(batches(arrays, batch_size, tgt_len, all_tokens))
    bar = None
    if progress:
        bar = tqdm(total=len(todo), unit="seg", desc="eval", leave=False)
    try:
        total, count = nll(model, ((torch.from_numpy(i), torch.from_numpy(t)) for i, t in todo), mem_len, bar=bar,
                           recall=recall)
    finally:
        if bar is not None:
            bar.close()
    available = sum(len(s) - 1 for s in arrays)
    if count == 0:
        raise LivechipError(f"nothing to score: {available} tokens in {len(arrays)} songs do not fill one batch of "
                            f"{batch_size} streams x {tgt_len} (use fewer streams, a shorter --tgt-len, "
                            "or --all-tokens)")
    mean = total / count
    return {"nll": mean, "perplexity": math.exp(mean), "tokens": count, "unscored_tokens": available - count,
            "segments": len(todo), "songs": len(arrays), "skipped_songs": n_songs - len(arrays),
            "batch_size": batch_size, "tgt_len": tgt_len, "mem_len": mem_len, "all_tokens": all_tokens,
            "recall": recall}
