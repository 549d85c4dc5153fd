"""Synthesise the bundled demo song ``aichoreo/assets/music/demo_120bpm.ogg``.

The project may not redistribute third-party music, so the piece that the README's main
command dances to is made here from scratch: kick, snare, hi-hat, a bass line and a chord
pad at 120 BPM in 4/4, 16 bars (32 s), mono, 22,050 Hz, Ogg Vorbis. Deterministic; rerun to rebuild:

    python scripts/make_demo_music.py src/aichoreo/assets/music/demo_120bpm.ogg
"""

from __future__ import annotations

import sys

import numpy as np
import soundfile as sf

SR = 22050
BPM = 120.0
BARS = 16
BEAT_S = 60.0 / BPM


def _env(n: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / SR
    return np.minimum(t / attack, 1.0) * np.exp(-t / decay)


def kick(n: int) -> np.ndarray:
    t = np.arange(n) / SR
    freq = 45 + 90 * np.exp(-t / 0.04)  # pitch drop gives the thump
    phase = 2 * np.pi * np.cumsum(freq) / SR
    return np.sin(phase) * _env(n, 0.002, 0.18)


def snare(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / SR
    body = np.sin(2 * np.pi * 190 * t) * _env(n, 0.001, 0.07)
    noise = rng.standard_normal(n) * _env(n, 0.001, 0.12)
    return 0.5 * body + 0.45 * noise


def hat(n: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(n)
    noise = np.diff(noise, prepend=0.0)  # crude high-pass
    return 0.25 * noise * _env(n, 0.0005, 0.025)


def tone(freq: float, n: int, decay: float, harmonics: int = 4) -> np.ndarray:
    t = np.arange(n) / SR
    wave = sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, harmonics + 1))
    return wave * _env(n, 0.01, decay)


def render() -> np.ndarray:
    rng = np.random.default_rng(7)
    n_beats = BARS * 4
    total = int(round(n_beats * BEAT_S * SR)) + SR  # one second of tail
    out = np.zeros(total)

    def add(sig: np.ndarray, start_s: float, gain: float) -> None:
        i = int(round(start_s * SR))
        j = min(total, i + len(sig))
        out[i:j] += gain * sig[: j - i]

    # A minor - F - C - G, one chord per bar.
    roots = [55.0, 43.65, 65.41, 49.0]
    chords = [[220.0, 261.63, 329.63], [174.61, 220.0, 261.63], [261.63, 329.63, 392.0], [196.0, 246.94, 293.66]]
    for beat in range(n_beats):
        t0 = beat * BEAT_S
        bar = beat // 4
        add(kick(int(0.4 * SR)), t0, 0.9 if beat % 4 in (0, 2) else 0.6)
        if beat % 4 in (1, 3):
            add(snare(int(0.3 * SR), rng), t0, 0.5)
        for k in range(2):
            add(hat(int(0.08 * SR), rng), t0 + k * BEAT_S / 2, 0.35 if k == 0 else 0.22)
        root = roots[bar % 4]
        add(tone(root, int(0.45 * SR), 0.25, harmonics=3), t0, 0.35)
        if beat % 4 == 0:
            for f in chords[bar % 4]:
                add(tone(f, int(4 * BEAT_S * SR), 1.2, harmonics=2), t0, 0.08)
    return (0.8 * out / np.max(np.abs(out))).astype(np.float32)


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "demo_120bpm.ogg"
    sf.write(path, render(), SR, format="OGG", subtype="VORBIS")
    print(path)
