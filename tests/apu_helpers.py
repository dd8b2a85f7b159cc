"""Measurements shared by the APU tests: the spectrogram similarity, levels and fundamentals.

The similarity metric, used against the reference renders in ../shared/data/renders:

1. high-pass both signals at 90 Hz (first order; VGMPlay's output is unipolar and unfiltered, gme removes DC,
   ours may have a DC level from power-on: the 90 Hz high-pass makes all three comparable);
2. cut into 50 ms frames (2205 samples at 44.1 kHz, no overlap), Hann window, power spectrum;
3. keep 0-8 kHz and pool the power of 4 adjacent bins (20 Hz each) into 80 Hz bands, which steadies the
   estimate for noise (the emulators' noise generators start from different states, so only its spectrum
   envelope can agree);
4. 10 log10, floored at 60 dB below the loudest cell (silence then counts as "quiet", not as -inf);
5. the Pearson correlation of the two log-spectrograms over all (frame, band) cells.

1.0 means the same spectral content at the same times; unrelated songs score about 0.2 (see
test_apu_reference.py::test_similarity_metric_discriminates).
"""

import numpy as np
from numba import njit

RATE = 44100


def highpass(x, fc=90.0, rate=RATE):
    """First-order high-pass at `fc` Hz, started at rest on the first sample (a power-on level is no sound)."""
    x = np.asarray(x, dtype=np.float64)
    rc = 1.0 / (2 * np.pi * fc)
    return _highpass(x, rc / (rc + 1.0 / rate))


@njit(cache=True)
def _highpass(x, a):
    y = np.empty_like(x)
    if len(x) == 0:
        return y
    px, py = x[0], 0.0
    for i in range(len(x)):
        py = a * (py + x[i] - px)
        px = x[i]
        y[i] = py
    return y


def log_spectrogram(x, rate=RATE, frame_s=0.05, fmax=8000.0, pool=4, floor_db=60.0):
    n = int(round(frame_s * rate))
    m = len(x) // n
    frames = np.asarray(x[: m * n], dtype=np.float64).reshape(m, n) * np.hanning(n)
    p = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    k = int(fmax * n / rate) + 1
    k -= k % pool
    p = p[:, :k].reshape(m, k // pool, pool).mean(axis=2)
    db = 10 * np.log10(p + 1e-30)
    return np.maximum(db, db.max() - floor_db)


def similarity(a, b, rate=RATE):
    """Correlation of the log-magnitude spectrograms of two signals (see the module docstring)."""
    m = min(len(a), len(b))
    sa = log_spectrogram(highpass(a[:m]), rate)
    sb = log_spectrogram(highpass(b[:m]), rate)
    sa -= sa.mean()
    sb -= sb.mean()
    return float((sa * sb).sum() / np.sqrt((sa * sa).sum() * (sb * sb).sum()))


def rms_db(a, b):
    """Level of `a` relative to `b` in dB: RMS ratio of the 90 Hz high-passed signals, over the common length."""
    m = min(len(a), len(b))
    ha, hb = highpass(a[:m]), highpass(b[:m])
    return float(20 * np.log10(np.sqrt(np.mean(ha ** 2)) / np.sqrt(np.mean(hb ** 2))))


def fundamental(x, rate=RATE, fmin=30.0, fmax=5000.0):
    """Fundamental frequency (Hz) of a steady periodic segment, precise to well under a cent.

    A coarse FFT peak gives the period; the normalised autocorrelation around K periods (as many as fit in
    three quarters of the segment), refined by a parabola through its peak, gives the exact lag.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    n = len(x)
    spec = np.abs(np.fft.rfft(x * np.hanning(n), 8 * n))
    freqs = np.fft.rfftfreq(8 * n, 1.0 / rate)
    band = (freqs >= fmin) & (freqs <= fmax)
    f0 = freqs[band][np.argmax(spec[band])]
    period = rate / f0
    k = max(1, int(0.75 * n / period))
    lag0 = k * period
    span = max(3, int(0.25 * period))

    def corr(lag):
        u, v = x[: n - lag], x[lag:]
        return np.dot(u, v) / np.sqrt(np.dot(u, u) * np.dot(v, v))

    lags = np.arange(max(1, int(lag0) - span), min(n - 8, int(lag0) + span + 1))
    c = np.array([corr(int(lag)) for lag in lags])
    i = int(np.argmax(c))
    i = min(max(i, 1), len(c) - 2)
    y0, y1, y2 = c[i - 1], c[i], c[i + 1]
    shift = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) if (y0 - 2 * y1 + y2) != 0 else 0.0
    return k * rate / (lags[i] + shift)


def cents(f, ref):
    return float(1200 * np.log2(f / ref))
