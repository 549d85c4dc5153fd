"""Which style a dance is in: a classifier of real dance, to measure style control (issue 17).

A dance is cut into clips of ``clip_frames`` (5 s at 60 fps), each described by the two feature
sets the field's FID scores use (:func:`kinetic_features`, 72-d, and :func:`manual_features`,
32-d geometric; both invariant to where the dancer stands and faces), and a multinomial logistic
regression on the standardised features gives each clip a style. The classes are weighted by
their inverse frequency, since a small dataset's styles are rarely balanced (Dance with Melody's
train split: 22 waltzes, 4 rumbas, 2 cha-chas). It is fitted on real dances only, so it asks
"does this look like the real dancers' <style>?", the question a viewer asks.

scikit-learn fits it (it comes with librosa); nothing here is hand-written beyond the clipping.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aichoreo.metrics.geometric import manual_features
from aichoreo.metrics.kinetic import kinetic_features

#: 5 s clips every 2.5 s: a clip holds two bars or more of every style of Dance with Melody (a
#: waltz bar at 90 bpm lasts 2 s); on its validation dances these clips scored 0.89-1.0 per style.
CLIP_FRAMES = 300
CLIP_STRIDE = 150


def clips(joints: np.ndarray, *, start: int = 0, frames: int = CLIP_FRAMES,
          stride: int = CLIP_STRIDE) -> list[np.ndarray]:
    """Clips ``(frames, J, 3)`` of ``joints (T, J, 3)`` starting at ``start``, every ``stride`` frames
    (none when the dance is shorter than one clip)."""
    return [joints[s: s + frames] for s in range(start, len(joints) - frames + 1, stride)]


def style_features(joints: np.ndarray, *, fps: float = 60.0) -> np.ndarray:
    """``(104,)`` features of one clip ``(T, 24, 3)`` metres, y up: kinetic then geometric."""
    return np.concatenate([kinetic_features(joints, fps=fps), manual_features(joints, fps=fps)])


class StyleClassifier:
    """A style per clip of a dance, fitted on real dances (:meth:`fit`)."""

    def __init__(self, model, styles: tuple[str, ...], fps: float):
        self._model = model
        self.styles = styles  # the classes, sorted
        self.fps = fps

    @classmethod
    def fit(cls, dances: Sequence[np.ndarray], styles: Sequence[str], *, fps: float = 60.0, start: int = 0,
            regularisation: float = 1.0) -> "StyleClassifier":
        """Fit on real ``dances`` (each ``(T, 24, 3)`` metres, y up) of the given ``styles`` (one name
        per dance), cut into clips from frame ``start``. ``regularisation`` is the inverse L2 weight
        (scikit-learn's ``C``; 1.0 was best of 0.01, 0.1 and 1 on Dance with Melody's validation dances).
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if len(dances) != len(styles):
            raise ValueError(f"{len(dances)} dances but {len(styles)} styles")
        x, y = [], []
        for joints, style in zip(dances, styles):
            feats = [style_features(c, fps=fps) for c in clips(joints, start=start)]
            x.extend(feats)
            y.extend([style] * len(feats))
        if len(set(y)) < 2:
            raise ValueError(f"a style classifier needs clips of two styles or more, got {sorted(set(y))}")
        model = make_pipeline(StandardScaler(), LogisticRegression(C=regularisation, class_weight="balanced",
                                                                   max_iter=5000))
        model.fit(np.stack(x), np.array(y))
        return cls(model, tuple(str(c) for c in model.classes_), fps)

    def predict(self, joints: np.ndarray, *, start: int = 0) -> list[str]:
        """The style of each clip of ``joints (T, 24, 3)`` from frame ``start`` (empty when shorter than a clip)."""
        cut = clips(joints, start=start)
        if not cut:
            return []
        return [str(s) for s in self._model.predict(np.stack([style_features(c, fps=self.fps) for c in cut]))]

    def accuracy(self, dances: Sequence[np.ndarray], style: str, *, start: int = 0) -> float:
        """Fraction of the clips of ``dances`` classified as ``style`` (all clips pooled); NaN without clips."""
        if style not in self.styles:
            raise ValueError(f"the classifier knows {', '.join(self.styles)}, not {style!r}")
        predicted = [p for j in dances for p in self.predict(j, start=start)]
        return float(np.mean([p == style for p in predicted])) if predicted else float("nan")
