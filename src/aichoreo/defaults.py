"""Generation's default settings, defined once and importable without torch.

The command line states them in ``--help`` and :class:`aichoreo.pipeline.DanceOptions` takes them as
defaults; neither may import torch for that (``aichoreo --help`` and the start of ``aichoreo dance``
stay quick; the song's features are computed while torch is imported). :mod:`aichoreo.generate`
uses them. This module imports nothing.
"""

from __future__ import annotations

__all__ = ["SEAM_EASE_FRAMES", "STYLE_STRENGTH", "SMOOTH_HZ", "HEARD_FRAMES"]

# Frames over which each predicted chunk is joined to the frames before it (SeamEaser; K = 20 in
# the default mode, so the whole chunk). Chosen on the validation split (docs/results.md, "Seams
# and shaking"): spread over the whole chunk, the join leaves no step of its own (worst jitter
# 5.85x the real dancers' with the old 4-frame blend -> 1.0x); what the bundled model's chunks
# moved besides jumping back at each seam is about half of the real dancers' speed.
SEAM_EASE_FRAMES = 20
# Classifier-free guidance of a requested style (--style-strength), for models with styles. Chosen
# for the bundled styles model on the validation songs among 2, 4 and 6 (docs/results.md, "Style"),
# with each chunk joined over the whole chunk: the style was recognised 0.47, 0.40 and 0.63 times as
# often as in real dances; 2 is the strongest at which no style's dances shake more than 1.2x the
# unconditioned ones (the cha-cha's jitter 1.04x the unconditioned dances' at 2, 1.31x at 4, 2.1x at
# 6). Before the join the same rule gave 4.
STYLE_STRENGTH = 2.0
# Cut-off of the live dance's low-pass (aichoreo.live.engine.FrameSmoother, aichoreo live --smooth),
# Hz. Chosen on the validation songs of Dance with Melody (docs/live.md): on the stream model's dances
# 6, 8, 10 and 12 Hz took the worst jitter from 1.78x the real dancers' to 0.84, 0.96, 1.06 and
# 1.14x, energy from 0.94 to 0.92x at each; 10 Hz delays the motion by 16 ms, one frame at 60 fps.
# The default model's 0.33 s chunks, which aichoreo live dances since, shake less, and the low-pass
# still took their worst jitter from 1.08x to 0.87x there.
SMOOTH_HZ = 10.0
# Music rows a live pass hears from its chunk's first frame on (aichoreo live --lookahead; 0.2 s).
# fact-small-stream's window ends there; a window that reaches further (the paper's: 2 s) gets those
# rows mirrored for the rest (aichoreo.live.engine). The bundled default model danced the 4
# validation songs with its windows cut so (on the streamed features) about as it dances them
# offline hearing all 2 s: worst fade 0.77 against 0.82, FID_k 127 against 124.5, energy, jitter and
# foot skate within 1 %. Live on those songs 12 rows faded least (worst fade 0.75, against 0.69 at 6
# rows and 0.685 at 1; the other ratios within 0.01; docs/live.md, "The model"). The latency is this
# many rows and the features' 2.
HEARD_FRAMES = 12
