"""Where the live dance goes: the browser viewer over a WebSocket, the VMC protocol over OSC, a file.

Each sink takes frames with ``send(index, motion)`` (``motion``: an :class:`SMPLMotion` of the
frames being sent, ``index``: the first one's frame number) and ``close()``; a sink that cannot
start raises :class:`~aichoreo.errors.InputError` before the music starts.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import glob
import json
import logging
import os
import socket
import tempfile
import threading
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.export import write_aistpp, write_bvh
from aichoreo.export.html import BROWSER_AUDIO_TYPES, live_page
from aichoreo.fileio import save_npy
from aichoreo.motion import SMPLMotion
from aichoreo.retarget.humanoid import SMPL_OF
from aichoreo.rotations import matrix_to_quaternion
from aichoreo.skeleton import J0, JOINT_NAMES

log = logging.getLogger(__name__)

__all__ = ["Recorder", "VMCSender", "ViewerServer", "parse_address", "VMC_BONES"]


def parse_address(text: str, default_port: int, what: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` -> ``(host, port)`` (host 127.0.0.1 when absent)."""
    host, _, port = text.rpartition(":") if ":" in text else ("", "", text)
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise InputError(None, f"{what} {text!r}: the port must be a number (HOST:PORT)") from None
    if not 0 <= number <= 65535:
        raise InputError(None, f"{what} {text!r}: port {number} is outside 0-65535")
    return host, number


# ---------------------------------------------------------------------------------------------
# Recording


def _remove_dead_spools(path: Path) -> None:
    """Remove the spools ``.<name>.*.partial`` beside ``path`` that a session killed outright
    (SIGKILL, a power cut) left behind: those whose lock nobody holds (a live session holds its own)."""
    for spool in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        try:
            with open(spool, "rb") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                spool.unlink()
        except OSError:  # held by a running session, or gone already
            continue


class Recorder:
    """Keeps every frame and writes them when closed (also after Ctrl-C): ``.npy`` = the FACT
    motion vectors ``(T, 219)`` (``aichoreo dance``'s ``.npy`` layout, readable by
    ``--continue``/``--seed-motion``), ``.bvh`` = the SMPL skeleton's BVH, ``.pkl`` = AIST++'s
    motion pickle. The frames go to a hidden temporary file beside the recording as they come (the
    session's memory stays flat, however long it runs); the recording is written from it at the end,
    atomically (a temporary file renamed), and the temporary file removed."""

    SUFFIXES = (".npy", ".bvh", ".pkl")

    def __init__(self, path: str | os.PathLike, fps: float):
        self.path = Path(path)
        if self.path.suffix not in self.SUFFIXES:
            raise InputError(self.path, f"a recording is {', '.join(self.SUFFIXES)}, not {self.path.suffix!r}")
        if self.path.is_dir():
            raise InputError(self.path, "is a folder; name the file to write")
        if not self.path.parent.is_dir():
            raise InputError(self.path, "its folder does not exist")
        self.fps = fps
        self.sent = 0
        _remove_dead_spools(self.path)
        try:
            self._spool = tempfile.NamedTemporaryFile(dir=self.path.parent, prefix=f".{self.path.name}.",
                                                      suffix=".partial", delete=False)
            fcntl.flock(self._spool.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # alive while it is held
        except OSError as exc:
            raise InputError(self.path, f"cannot write beside it: {exc.strerror or exc}") from None

    def send(self, index: int, motion: SMPLMotion) -> None:
        self._spool.write(np.ascontiguousarray(motion.to_fact_vector(), dtype="<f4").tobytes())
        self.sent += len(motion)

    def discard(self) -> None:
        """End without writing the recording (the session failed); the temporary file removed."""
        self._spool.close()
        Path(self._spool.name).unlink(missing_ok=True)

    def close(self, frames: int | None = None) -> Path | None:
        """Write the recording, its first ``frames`` frames where given (the music's length: a pass
        made before the end was known keeps frames past it), and return its path."""
        spool = Path(self._spool.name)
        self._spool.close()
        try:
            if not self.sent:
                return None
            vectors = np.fromfile(spool, dtype="<f4").reshape(self.sent, -1)[:frames]
            motion = SMPLMotion.from_fact_vector(vectors, fps=self.fps)
            if self.path.suffix == ".npy":
                save_npy(self.path, motion.to_fact_vector())
            elif self.path.suffix == ".bvh":
                write_bvh(motion, self.path)
            else:
                write_aistpp(motion, self.path)
            return self.path
        finally:
            spool.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# VMC


#: VMC bone name (Unity's HumanBodyBones) -> SMPL joint index, for the humanoid bones SMPL has.
VMC_BONES: dict[str, int] = {bone[0].upper() + bone[1:]: JOINT_NAMES.index(joint) for bone, joint in SMPL_OF.items()}


class VMCSender:
    """Sends each frame over the VMC protocol (OSC over UDP; https://protocol.vmc.info), which
    VSeeFace, Warudo, VNyan, VMagicMirror and the Unity/Unreal VMC receivers read.

    Per frame one OSC bundle: ``/VMC/Ext/Root/Pos`` (the model's root at the origin),
    ``/VMC/Ext/Bone/Pos`` for each humanoid bone SMPL has (``Hips`` with the dancer's position;
    local rotations as quaternions), ``/VMC/Ext/T`` (music time, s) and ``/VMC/Ext/OK 1``. SMPL is
    right-handed with y up and the dancer facing +z; Unity is left-handed: x is negated, so
    positions go to ``(-x, y, z)`` and quaternions to ``(x, -y, -z, w)``. A bone's rotation is
    relative to the T-pose of a VRM-normalised model, as SMPL's are to its rest pose.
    """

    def __init__(self, host: str, port: int):
        from pythonosc.udp_client import SimpleUDPClient

        if port == 0:  # a receiver listens on a port of its own; 0 failed once the music had started
            raise InputError(None, f"--vmc {host}:{port}: give the receiver's port (VMC's usual: 39539)")
        try:
            self.client = SimpleUDPClient(host, port)
            # an empty datagram now: an address no packet can go to (a broadcast address) fails
            # here, before the music, not on the first frame
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.sendto(b"", address)
        except OSError as exc:  # a host that does not resolve, an address no datagram goes to
            raise InputError(None, f"--vmc {host}:{port}: {exc.strerror or exc}") from None
        self.address = (host, port)
        self.sent = 0

    def send(self, index: int, motion: SMPLMotion) -> None:
        from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
        from pythonosc.osc_message_builder import OscMessageBuilder

        quats = matrix_to_quaternion(np.asarray(motion.rotations, dtype=np.float64))  # (T, 24, 4) w, x, y, z
        hips = np.asarray(motion.translation, dtype=np.float64) + J0  # the pelvis (smplx transl + rest root)
        for i in range(len(motion)):
            bundle = OscBundleBuilder(IMMEDIATELY)
            bundle.add_content(_message(OscMessageBuilder, "/VMC/Ext/Root/Pos", ["root", 0.0, 0.0, 0.0,
                                                                                0.0, 0.0, 0.0, 1.0]))
            for bone, joint in VMC_BONES.items():
                w, x, y, z = quats[i, joint]
                position = (-hips[i, 0], hips[i, 1], hips[i, 2]) if joint == 0 else (0.0, 0.0, 0.0)
                bundle.add_content(_message(OscMessageBuilder, "/VMC/Ext/Bone/Pos",
                                            [bone, *map(float, position), float(x), float(-y), float(-z), float(w)]))
            bundle.add_content(_message(OscMessageBuilder, "/VMC/Ext/T", [float((index + i) / motion.fps)]))
            bundle.add_content(_message(OscMessageBuilder, "/VMC/Ext/OK", [1]))
            try:
                self.client.send(bundle.build())
            except OSError as exc:  # nothing listening is fine for UDP; a network that vanished is not
                if exc.errno not in (errno.ECONNREFUSED,):
                    raise InputError(None, f"--vmc {self.address[0]}:{self.address[1]}: {exc.strerror or exc}") from None
            self.sent += 1

    def close(self) -> None:
        return None


def _message(builder_class, address: str, values: list):
    builder = builder_class(address=address)
    for value in values:
        builder.add_arg(value)
    return builder.build()


# ---------------------------------------------------------------------------------------------
# Browser


class ViewerServer:
    """The live page (the dance viewer in live mode) on ``http://HOST:PORT/`` and the frames on
    ``ws://HOST:PORT/ws``: each frame one binary message of little-endian float32, the frame number
    then the 24 joints ``(24, 3)`` in metres, y up. With ``music`` (a file source) the page also
    gets the song on ``/music`` and starts it when frame 0 arrives, so that what it plays and what
    it shows keep the same delay. Runs in its own thread; ``send`` may be called from any."""

    def __init__(self, host: str, port: int, *, fps: float, title: str, music: Path | None = None):
        import websockets.asyncio.server as ws_server

        self.host, self.fps = host, fps
        self.page = live_page(title=title, fps=fps, music=music is not None).encode("utf-8")
        self.music = music
        self.clients: set = set()
        self.sent = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._ws_server = ws_server
        self._thread = threading.Thread(target=self._run, args=(port,), name="aichoreo-live-viewer", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)
        if self._error is not None:
            error = self._error
            if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
                raise InputError(None, f"--serve {host}:{port}: the port is in use (another program, or another "
                                       "aichoreo live); choose another port") from None
            raise InputError(None, f"--serve {host}:{port}: {getattr(error, 'strerror', None) or error}") from None
        log.info("live viewer on %s", self.url)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def _run(self, port: int) -> None:
        asyncio.set_event_loop(self._loop)

        async def start():
            return await self._ws_server.serve(self._handler, self.host, port, process_request=self._http,
                                               compression=None)

        try:
            self._server = self._loop.run_until_complete(start())
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # reported by __init__ in the caller's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def _http(self, connection, request):
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        if request.path == "/ws":
            return None  # the WebSocket handshake
        if request.path in ("/", "/index.html"):
            body, kind = self.page, "text/html; charset=utf-8"
        elif request.path == "/music" and self.music is not None:
            body = self.music.read_bytes()
            kind = BROWSER_AUDIO_TYPES.get(self.music.suffix.lower(), "application/octet-stream")
        else:
            return connection.respond(404, "not found\n")
        return Response(200, "OK", Headers([("Content-Type", kind), ("Content-Length", str(len(body))),
                                            ("Cache-Control", "no-store")]), body)

    async def _handler(self, websocket) -> None:
        self.clients.add(websocket)
        try:
            await websocket.send(json.dumps({"type": "hello", "fps": self.fps, "music": self.music is not None}))
            async for _ in websocket:  # the page sends nothing; this waits for it to leave
                pass
        except Exception:  # a page closed mid-message: nothing to do
            pass
        finally:
            self.clients.discard(websocket)

    def send(self, index: int, motion: SMPLMotion) -> None:
        joints = motion.joints().astype("<f4")  # (T, 24, 3)
        messages = [np.concatenate([np.array([index + i], "<f4"), joints[i].ravel()]).tobytes()
                    for i in range(len(joints))]
        self._loop.call_soon_threadsafe(self._broadcast, messages)
        self.sent += len(messages)

    def _broadcast(self, messages: list[bytes]) -> None:
        for websocket in list(self.clients):
            for message in messages:
                self._loop.create_task(_quiet_send(websocket, message))

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


async def _quiet_send(websocket, message: bytes) -> None:
    try:
        await websocket.send(message)
    except Exception:  # the page went away between frames
        pass

