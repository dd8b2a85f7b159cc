"""The note driver and `livechip render`: notes become the right registers at the right cycles."""

import wave

import numpy as np
import pytest

from livechip.cli import main as cli
from livechip.apu import driver, render
from livechip.apu.apu import NTSC, Apu
from livechip.apu.driver import DEFAULTS, PRESETS, Driver, Timbre, load_timbres, score_log
from livechip.core.errors import LivechipError
from livechip.core.events import NoteEvent, Score
from tests.apu_helpers import cents, fundamental, similarity

RATE = 44100


def score(*events, end=None):
    evs = [NoteEvent(t, v, p) for t, v, p in events]
    return Score(evs, end if end is not None else max(e.time for e in evs) + RATE // 2)


def spectrum(x):
    x = np.asarray(x, dtype=np.float64)
    s = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / RATE), s


def level_at(freqs, s, f):
    return s[np.abs(freqs - f) < 4].max()


def test_notes_play_at_the_pitch_of_the_nearest_period():
    flat = {v: Timbre(duty=2, volume=15) for v in driver.VOICE_NAMES}
    for voice, pitch in (("P1", 69), ("P2", 57), ("P1", 84), ("TR", 45), ("TR", 69)):
        x, log = render.render_score(score((0, voice, pitch), (RATE, voice, None)), flat, filters=False)
        f = fundamental(x[4410:RATE - 4410])
        ideal = 440.0 * 2 ** ((pitch - 69) / 12)
        period = driver.triangle_period(ideal) if voice == "TR" else driver.pulse_period(ideal)
        exact = NTSC / ((32 if voice == "TR" else 16) * (period + 1))
        assert abs(cents(f, exact)) < 1.0
        assert abs(cents(f, ideal)) < 10.0               # period rounding only


def test_note_writes_land_on_the_event_cycle():
    log = score_log(score((12345, "P1", 60), (54321, "NO", 10)))
    for tick, addr in ((12345, 0x4003), (54321, 0x400F)):
        cyc = log.cycles[log.addrs == addr]
        assert round(tick * NTSC / RATE) in cyc


def test_default_pulses_are_told_apart():
    # same note on each pulse: P1's 25 % duty has a strong second harmonic, P2's 50 % has none; P2 is quieter
    def play(voice):
        x, _ = render.render_score(score((0, voice, 69), (RATE, voice, None)))
        return x[4410:RATE - 4410]
    f0 = NTSC / (16 * (driver.pulse_period(440.0) + 1))
    x1, x2 = play("P1"), play("P2")
    freqs, s1 = spectrum(x1)
    _, s2 = spectrum(x2)
    assert level_at(freqs, s1, 2 * f0) > 0.4 * level_at(freqs, s1, f0)
    assert level_at(freqs, s2, 2 * f0) < 0.05 * level_at(freqs, s2, f0)
    assert x2.std() < 0.85 * x1.std()


def test_default_envelopes_decay_to_sustain_and_release():
    log = score_log(score((0, "P1", 69), (RATE, "P1", None)))
    vols = log.values[log.addrs == 0x4000] & 15
    times = log.cycles[log.addrs == 0x4000]
    on = vols[times < NTSC][1:]                                   # after the silent start-up write
    assert on[0] == DEFAULTS["P1"].volume and on[-1] == DEFAULTS["P1"].sustain
    assert np.all(np.diff(on) <= 0)                               # decays, never rises
    after = vols[times >= NTSC]
    assert after[-1] == 0 and len(after) > 1                      # fades out over several frames


def test_note_off_silences_each_voice():
    timbres = load_timbres("lakhnes")                             # no release: silent at the note-off
    for voice, pitch in (("P1", 69), ("P2", 60), ("TR", 45), ("NO", 8)):
        x, _ = render.render_score(score((0, voice, pitch), (RATE // 2, voice, None), end=RATE), timbres)
        assert x[RATE // 4: RATE // 4 + 2000].std() > 0.01
        tail = x[RATE // 2 + 441:]                                # 10 ms later (triangle: next quarter frame)
        assert np.abs(tail).max() < 0.01


def test_noise_note_numbers_follow_the_data_set():
    # NO note n plays period index 16 - n; the mode comes from the timbre
    log = score_log(score((0, "NO", 16), (1000, "NO", 1), (2000, "NO", 8)))
    regs = log.values[log.addrs == 0x400E]
    assert list(regs & 15) == [0, 15, 8]
    short = {**DEFAULTS, "NO": Timbre.from_dict({"noise_mode": 1}, DEFAULTS["NO"])}
    log = score_log(score((0, "NO", 8)), short)
    assert log.values[log.addrs == 0x400E][0] == 0x88


def test_vibrato_moves_the_period_after_its_delay_only_on_p1_by_default():
    log = score_log(score((0, "P1", 69), (0, "P2", 64), (2 * RATE, "P1", None), (2 * RATE, "P2", None)))
    delay = DEFAULTS["P1"].vibrato_delay * 29780.5
    p1 = log.values[log.addrs == 0x4002]
    t1 = log.cycles[log.addrs == 0x4002]
    assert len(set(p1[t1 <= delay])) == 1 and len(set(p1[t1 > delay])) >= 2
    assert len(log.values[log.addrs == 0x4006]) == 1              # P2: one period write, no vibrato


def test_pitch_bend_moves_by_its_range():
    writes = []
    drv = Driver(lambda c, a, v: writes.append((c, a, v)), {v: Timbre(bend_range=2) for v in driver.VOICE_NAMES})
    drv.start(0)
    drv.note(0, "P1", 60)
    drv.bend(1000, "P1", 1.0)
    lo = [v for c, a, v in writes if a == 0x4002][-1]
    hi = [v for c, a, v in writes if a == 0x4003][-1] & 7
    assert (hi << 8 | lo) == driver.pulse_period(440.0 * 2 ** ((62 - 69) / 12))


def test_voice_volume_and_panic():
    writes = []
    drv = Driver(lambda c, a, v: writes.append((c, a, v)))
    drv.start(0)
    drv.note(0, "P1", 69)
    drv.set_volume(10, "P1", 0.5)
    assert writes[-1] == (10, 0x4000, (DEFAULTS["P1"].duty << 6) | 0x30 | 6)      # ceil(11 * 0.5)
    drv.note(20, "TR", 45)
    drv.set_volume(30, "TR", 0.0)
    assert writes[-1] == (30, 0x4008, 0x80)                                       # triangle: off at 0
    drv.note(40, "NO", 12)
    drv.silence(50)
    assert {(a, v) for c, a, v in writes if c == 50} == {(0x4000, 0x30), (0x400C, 0x30), (0x4015, 0), (0x4015, 0x0F)}
    assert all(vo.pitch is None for vo in drv.voices.values())


def test_driver_feeds_the_live_apu_block_by_block():
    # the engine's way: the driver writes into the APU's queue just ahead of the blocks it renders
    events = [NoteEvent(0, "P1", 72), NoteEvent(0, "TR", 48), NoteEvent(8000, "NO", 12),
              NoteEvent(20000, "P1", None), NoteEvent(30000, "P1", 74)]
    offline, _ = render.render_score(Score(events, 44100), tail=0)
    apu = Apu()
    drv = Driver(apu.write)
    drv.start(0)
    out = np.zeros(256, dtype=np.float32)
    blocks, k = [], 0
    while len(blocks) * 256 < len(offline):
        horizon = (len(blocks) + 2) * 256
        while k < len(events) and events[k].time < horizon:
            c = round(events[k].time * NTSC / RATE)
            drv.advance(c)
            drv.note(c, events[k].voice, events[k].pitch)
            k += 1
        drv.advance(round(horizon * NTSC / RATE))
        blocks.append(apu.render(out).copy())
    live = np.concatenate(blocks)[: len(offline)]
    np.testing.assert_allclose(live, offline, atol=1e-5)


def test_timbres_are_validated_plain_data(tmp_path):
    with pytest.raises(LivechipError, match="duty"):
        Timbre(duty=4)
    with pytest.raises(LivechipError, match="volume"):
        Timbre(volume=16)
    with pytest.raises(LivechipError, match="whole number"):
        Timbre(sustain=2.5)
    with pytest.raises(LivechipError, match="unknown timbre setting 'dutty'"):
        Timbre.from_dict({"dutty": 1})
    assert Timbre.from_dict(DEFAULTS["P1"].to_dict()) == DEFAULTS["P1"]
    assert set(load_timbres("lakhnes")) == {"P1", "P2", "TR", "NO"}
    toml = tmp_path / "bright.toml"
    toml.write_text("[P1]\nduty = 0\nvibrato_depth = 30\n\n[no]\nnoise_mode = 1\n")
    t = load_timbres(toml)
    assert t["P1"].duty == 0 and t["P1"].vibrato_depth == 30 and t["P1"].volume == DEFAULTS["P1"].volume
    assert t["NO"].noise_mode == 1 and t["P2"] == DEFAULTS["P2"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[P3]\nduty = 1\n")
    with pytest.raises(LivechipError, match="P3"):
        load_timbres(bad)
    with pytest.raises(LivechipError, match="not a preset"):
        load_timbres("nonesuch")


def test_lakhnes_preset_sounds_like_the_lakhnes_render_path(shared):
    # TX1 rendered the way the LakhNES synthesis server does (volume 15, duty 12.5 %, VGMPlay): our driver with
    # the lakhnes preset must give the same music (same metric and target as the game logs)
    from livechip.formats import tx1
    path = shared / "data" / "examples" / "202_LawnMower_02_03LevelClear.tx1.txt"
    ref = shared / "data" / "renders" / "tx1_lakhnes_path" / "202_LawnMower_02_03LevelClear.tx1.full.vgmplay.wav"
    if not ref.exists():
        pytest.skip(f"{ref} not found")
    x, _ = render.render_score(tx1.read(path), PRESETS["lakhnes"], filters=False)
    assert similarity(x, render.read_wav(ref)[0]) >= 0.9


# --- livechip render ----------------------------------------------------------------------------

def test_cli_renders_tx1_to_wav_and_vgm(shared, tmp_path):
    src = shared / "data" / "examples" / "324_SuperMarioBros_3_06_07CourseClearFanfare.tx1.txt"
    wav, log_path = tmp_path / "out.wav", tmp_path / "out.vgm"
    assert cli.main(["render", str(src), "-o", str(wav), "--rate", "48000", "--vgm", str(log_path)]) == 0
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 1, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert 4.0 < len(frames) / 48000 < 5.0 and np.abs(frames).max() > 3000
    # the register log plays back as the same music
    again = render.render_vgm(log_path, rate=48000)
    assert similarity(again[: len(frames)], frames / 32768.0, rate=48000) > 0.98


def test_cli_renders_vgm_with_a_timbre_file_ignored_for_logs(shared, tmp_path):
    src = shared / "data" / "renders" / "synthetic" / "p1_duty50_A4.vgm"
    wav = tmp_path / "a4.wav"
    assert cli.main(["render", str(src), "-o", str(wav), "--no-filter"]) == 0
    x, rate = render.read_wav(wav)
    assert rate == 44100 and abs(len(x) - 0.8 * 44100) <= 1


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.vgm"
    bad.write_bytes(b"not a vgm at all" * 10)
    assert cli.main(["render", str(bad), "-o", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("livechip: error:") and "not a VGM file" in err and "\n" not in err
    assert not (tmp_path / "x.wav").exists()
    assert cli.main(["render", str(tmp_path / "missing.tx1.txt"), "-o", str(tmp_path / "x.wav")]) == 2
    assert cli.main(["render", str(bad.with_suffix(".xyz")), "-o", str(tmp_path / "x.wav")]) == 2
