"""The engine end to end without devices: a model generating ahead of the clock, heard through the APU.

No sound card and no MIDI system here, so the audio is rendered by the pacer (the same render path the audio
callback runs) and MIDI is off; the JACK tests (test_midi_out_jack.py) cover the real outputs. The model is a
stand-in with the TransformerXL's incremental interface that plays a fixed pattern (a note every 50 ms, voices
in turn), stepped in the engine thread, so these run in seconds and every expectation is exact.
"""

import time

import numpy as np
import pytest
import torch

from livechip.core import events as ev
from livechip.apu.apu import Apu
from livechip.control.surface import Control
from livechip.realtime.clock import frames_to_ticks
from livechip.engine.engine import Engine, EngineConfig

WAIT = ev.token_id("WT_2205")     # 50 ms


class PatternModel:
    """Logits that make one token overwhelmingly likely: after a note a 50 ms wait, after a wait the next
    note of a fixed round (P1, P2, TR, NO, pitches walking up). Position-based, so rollback is exact."""

    def __init__(self):
        self.tokens = []

    def setup_cache(self, batch_size=1, max_rollback=1024, mem_len=None):
        self.tokens = []

    def reset_cache(self):
        self.tokens = []

    @property
    def position(self):
        return len(self.tokens)

    def rollback(self, position):
        del self.tokens[position:]

    def step(self, tokens):
        out = torch.zeros(1, tokens.shape[1], len(ev.VOCAB))
        for i, t in enumerate(tokens[0].tolist()):
            self.tokens.append(t)
            n = len(self.tokens)
            if ev.is_wait(t):
                v = ev.VOICES[(n // 2) % 4]
                lo, hi = ev.PITCH_RANGE[v]
                nxt = ev.note_token(v, lo + (n // 8) % (min(hi, lo + 24) - lo))
            else:
                nxt = WAIT
            out[0, i, nxt] = 40.0
        return out

CFG = dict(audio=False, midi=False, worker="thread", horizon=0.3)


@pytest.fixture
def engine():
    control = Control()
    control.set("seed", 3)
    e = Engine(PatternModel(), EngineConfig(**CFG), control=control, log=lambda m: None)
    e.start()
    yield e
    e.stop()


def stream_notes(engine):
    """The note events in the model's token history, in model ticks."""
    return [(t, ev.voice_of(tok), ev.pitch_of(tok)) for tok, t in engine.worker.stream.history
            if ev.voice_of(tok) is not None]


def test_schedule_stays_ahead_of_the_clock_and_everything_heard_came_from_the_model(engine):
    engine.run(1.5)
    heard = engine.played()
    assert heard.events, "nothing was played"
    assert engine.synth.late == 0 and engine.synth.errors == 0
    leads = engine.leads()[5:, 1].tolist()
    assert min(leads) > 0, f"schedule fell behind the clock: {min(leads)} s"
    # tempo 1: model ticks and heard time differ only by the frame rounding of one conversion
    model = [(t, v, p) for t, v, p in stream_notes(engine)]
    got = [(e.time, e.voice, e.pitch) for e in heard.events]
    assert len(got) <= len(model)
    for (t, v, p), (tm, vm, pm) in zip(got, model):
        assert (v, p) == (vm, pm) and abs(t - tm) <= 1


def test_merge_revokes_only_what_was_not_heard_and_the_model_continues_from_the_new_events(engine):
    engine.run(0.5)
    now = engine.tempo.ticks(round(engine.clock.now()))
    at = now + 2205                                            # 50 ms from now: still speculation
    revoked = engine.merge([ev.NoteEvent(at, "P1", 72)])
    assert all(e.time > at for e in revoked)
    engine.run(0.8)
    heard = {(e.time, e.voice, e.pitch) for e in engine.played().events}
    for e in revoked:
        assert (frames_to_ticks(engine.tempo.frames(e.time), engine.rate), e.voice, e.pitch) not in heard
    notes = stream_notes(engine)
    assert (at, "P1", 72) in notes
    assert any(t > at for t, _, _ in notes), "the model did not go on after the merged event"


def test_tempo_change_retimes_the_speculation_without_new_model_work(engine):
    engine.run(0.5)
    tokens = engine.worker.tokens
    engine.control.set("tempo", 2.0)
    time.sleep(0.05)
    assert engine.tempo.tempo == 2.0
    assert engine.worker.tokens - tokens < 50
    engine.run(0.5)
    assert engine.synth.late == 0


def test_recording_wav_is_exactly_what_its_register_log_plays(engine, tmp_path):
    engine.record(tmp_path)
    engine.run(1.0)
    rec = engine.recorder
    audio = rec.audio()
    log = rec.register_log()
    assert len(audio) >= engine.rate * 0.9 and len(log.cycles) > 10
    apu = Apu(rate=engine.rate)
    out = np.zeros(len(audio), dtype=np.float32)
    apu.render_log(log.cycles, log.addrs, log.values, out)
    assert np.max(np.abs(out - audio)) < 1e-6
    rec.close()


def test_save_writes_four_files_that_read_back(engine, tmp_path):
    from livechip.formats import tx1
    from livechip.formats import midi
    from livechip.apu import vgm
    from livechip.apu.render import read_wav
    engine.record(tmp_path)
    engine.run(1.0)
    engine.stop()
    paths = engine.save(tmp_path / "take")
    assert [p.name for p in paths] == ["take.mid", "take.tx1.txt", "take.wav", "take.vgm"]
    played = engine.played()
    assert tx1.read(paths[1]).events == played.events
    daw = ev.normalize(played)
    assert [(e.voice, e.pitch) for e in midi.read(paths[0]).events] == [(e.voice, e.pitch) for e in daw.events]
    samples, rate = read_wav(paths[2])
    assert rate == engine.rate and abs(len(samples) / rate - 1.0) < 0.3
    assert vgm.read(paths[3]).seconds > 0.5
    engine.recorder.close()


def test_panic_silences_the_apu_at_the_next_block_and_keeps_the_context(engine, tmp_path):
    engine.record(tmp_path)
    engine.run(0.6)                          # the pattern keeps every voice sounding from here on
    n = len(engine.worker.stream.history)
    frame = engine.synth.frame
    engine.panic()
    end = time.monotonic() + 1
    while engine.synth.silent and time.monotonic() < end:
        time.sleep(0.001)
    assert not engine.synth.silent, "no block took the panic"
    log = engine.recorder.register_log()
    after = log.cycles >= int(frame * engine.synth.cycles_per_frame)
    assert ((log.addrs == 0x4008) & (log.values == 0x80) & after).any(), "the triangle was not silenced"
    assert len(engine.worker.stream.history) >= n
    engine.recorder.close()


def test_muting_a_voice_releases_it_and_silences_it_at_once(engine):
    engine.run(0.6)
    before = engine.synth.frame
    engine.control.set("voice/p1/mode", "off")
    t = time.monotonic()
    while engine._pending is not None or engine._respeculated < t:
        time.sleep(0.005)
        assert time.monotonic() - t < 2, "the change was not applied"
    engine.run(0.6)
    p1 = [(f, p) for f, _, v, p in engine.scheduled if v == 0 and f >= before]
    offs = [i for i, (f, p) in enumerate(p1) if p == -1]
    assert offs, "no note-off for P1 when it was muted"
    assert all(p == -1 for _, p in p1[offs[0]:]), "P1 played after it was muted"
    assert p1[offs[0]][0] - before < 0.2 * engine.rate, "P1 was released late"


def test_new_sampling_settings_replace_the_speculation_from_now(engine):
    engine.run(0.6)
    calls = []
    merge = engine.worker.merge
    engine.worker.merge = lambda after, events=(), until=None: (calls.append((after, until)),
                                                                 merge(after, events, until))
    engine.control.set("temperature", 0.5)
    t = time.monotonic()
    while not calls:
        time.sleep(0.005)
        assert time.monotonic() - t < 2, "the change was not applied"
    now = engine.tempo.ticks(round(engine.clock.now()))
    after, until = calls[0]
    assert until == after and now - ev.TICKS_PER_SECOND // 10 <= after <= now + ev.TICKS_PER_SECOND // 10
    assert engine.worker.stream.settings.temperature == 0.5
    engine.run(0.3)
    assert engine.synth.late == 0
