// aichoreo live page: the frames of `aichoreo live --serve` from the WebSocket /ws of the server that
// sent the page, handed to the viewer (viewer.js, live mode) as they arrive. Each binary message is
// little-endian float32: the frame number, then the joints (24 x 3, metres, y up). The server sends
// every frame a fixed delay after its music arrived; the page shows the newest one. With the song
// (a file source) the page plays /music from where the dance is when the first frame arrives, so
// that music and dance keep the same delay.
"use strict";
(() => {
  const viewer = window.aichoreoViewer;
  const message = document.getElementById("message");
  const audio = viewer.audio;
  const state = viewer.state;
  state.connected = false;
  state.music = false;
  let musicAsked = false;
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => { state.connected = true; };
  socket.onclose = () => {
    state.connected = false;
    message.textContent = "the live dance has ended (aichoreo live stopped)";
    message.hidden = false;
  };
  socket.onmessage = (event) => {
    if (typeof event.data === "string") return; // the server's hello
    const frame = new Float32Array(event.data);
    const index = Math.round(frame[0]);
    viewer.addFrame(index, frame.subarray(1));
    if (audio && !musicAsked) {
      musicAsked = true;
      audio.currentTime = index / viewer.fps;
      audio.play().then(() => { state.music = true; }).catch(() => {
        message.textContent = "click to hear the music";
        message.hidden = false;
        window.addEventListener("click", () => {
          audio.currentTime = viewer.time;
          audio.play().then(() => { state.music = true; message.hidden = true; });
        }, { once: true });
      });
    }
  };
})();
