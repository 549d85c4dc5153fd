"""How fast a chunk-predicting model's chunks move, frame by frame inside the chunk, when it reads real
dancing and when it reads its own (docs/results.md, "Why the dancer moves at half speed").

    python scripts/chunk_speeds.py --data data/dwm --split val [--checkpoint default]

Three rows per quantity, each the mean over the chunks of the split's songs, frame ``j`` of a chunk
against the frame before it (``j = 0``: the chunk's first frame against the last frame the model read):

- **real**: the real dancer's frames, in windows every 0.5 s;
- **read real**: one pass of the model on the same windows, the real dance as its context (teacher
  forcing, as in training);
- **own**: every pass of a dance generated over the whole song from the built-in seed, as
  :func:`aichoreo.generate.generate_dances` generates it (each chunk joined to the frames before it,
  the model's room): the chunks as predicted, before the join.

Speeds are in m/s: ``pose`` the joints relative to the root (mean over the 24 joints), ``root`` the
root. Frame 0 is where a chunk jumps; frames 1-19 show how much the model moves inside a chunk.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from aichoreo.data.dataset import PreparedDataset
from aichoreo.data.windows import pad_motion
from aichoreo.generate import SeamEaser, generate, model_room
from aichoreo.motion import SMPLMotion
from aichoreo.pipeline import load_dance_model
from aichoreo.seeds import builtin_seed
from aichoreo.skeleton import FPS


def chunk_speeds(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(k + 1, 225)`` FACT frames (the frame before a chunk, then its ``k``) -> pose and root speed
    per chunk frame ``(k,)``, ``(k,)`` m/s."""
    joints = SMPLMotion.from_fact_vector(frames, fps=FPS).joints()  # (k + 1, 24, 3)
    pose = joints - joints[:, :1]
    return (np.linalg.norm(np.diff(pose, axis=0), axis=-1).mean(-1) * FPS,
            np.linalg.norm(np.diff(joints[:, 0], axis=0), axis=-1) * FPS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a prepared dataset (aichoreo data prepare)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--checkpoint", default="default", help="a model file, or a bundled model's name")
    parser.add_argument("--stride", type=int, default=30, help="frames between the real windows")
    args = parser.parse_args()

    model, meta = load_dance_model(args.checkpoint)
    cfg = model.config
    k = cfg.n_future
    rows: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"real": [], "read real": [], "own": []}
    songs = PreparedDataset(args.data).load_split(args.split)
    for song in songs:
        motion, music = pad_motion(song.motion.astype(np.float32)), song.music.astype(np.float32)
        usable = min(len(motion), len(music))
        for s in range(0, usable - cfg.audio_len - k, args.stride):
            with torch.inference_mode():
                state = model.start(torch.from_numpy(motion[None, s: s + cfg.motion_len]),
                                    torch.from_numpy(music[None, s:]))
                pred = model.predict(state, k)[0].numpy()
            before = motion[s + cfg.motion_len - 1: s + cfg.motion_len]
            rows["read real"].append(chunk_speeds(np.concatenate([before, pred])))
            rows["real"].append(chunk_speeds(motion[s + cfg.motion_len - 1: s + cfg.motion_len + k]))

        seed = builtin_seed("neutral", meta, n_frames=cfg.motion_len, bpm=120.0, random_seed=0).to_fact_vector(
            padded=True)
        easer = SeamEaser(seed, k)
        last = [seed[-1]]

        def edit(first: int, x: np.ndarray) -> np.ndarray:
            rows["own"].append(chunk_speeds(np.concatenate([last[0][None], x[0]])))
            joined = easer.ease(x[0])
            easer.record(joined)
            last[0] = joined[-1]
            return joined[None]

        n = (usable - cfg.audio_len) // k * k  # whole chunks the music allows
        generate(model, music[:usable], seed, n_frames=n, frames_per_step=k, edit=edit,
                 room_radius=model_room(cfg))
        print(f"{song.name}: done", flush=True)

    print(f"\n{args.checkpoint} on the {args.split} split ({len(songs)} songs): mean speed, m/s, by frame of the chunk")
    print(f"{'frame':16s}" + "".join(f"{j:6d}" for j in range(k)) + "   1-last")
    for part, index in (("pose", 0), ("root", 1)):
        for label, chunks in rows.items():
            mean = np.mean([c[index] for c in chunks], axis=0)
            print(f"{part + ' ' + label:16s}" + "".join(f"{v:6.2f}" for v in mean) + f"   {mean[1:].mean():6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
