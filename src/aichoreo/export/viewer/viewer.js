// aichoreo dance viewer: plain WebGL 1, no libraries, nothing fetched.
//
// Reads the motion embedded in the JSON script element "motion-data" (fps, frames, joint names
// and parents, joints as base64 little-endian float32, frames x joints x 3, metres, y up) and an
// optional audio element "music". Draws the dancer's body as shaded capsules (each bone as thick
// as that part of a body; "#stick" in the URL or the b key: the stick figure of thin ribbons and
// joint discs) over a floor grid, with its shadow. While playing, the music is the clock (motion time = audio time - offset);
// without music, or once it has ended, the page clock. "#t=SECONDS" in the URL shows that moment
// paused (for sharing a moment, and for headless screenshots).
"use strict";
(() => {
  const COLOUR = {
    left: [0.122, 0.467, 0.706, 1], right: [0.839, 0.153, 0.157, 1], centre: [0.333, 0.333, 0.333, 1],
  };
  const JOINT_COLOUR = [0.15, 0.15, 0.15, 1];
  const SHADOW_COLOUR = [0, 0, 0, 0.22];
  const GRID_COLOUR = [0.8, 0.8, 0.78, 1];
  const BACKGROUND = [0.957, 0.957, 0.949, 1];
  const BONE_RADIUS = 0.024; // metres, the stick figure's bones
  const JOINT_RADIUS = 0.032;
  const GRID_STEP = 0.5;
  const FOV_Y = (40 * Math.PI) / 180;
  const FLOATS_PER_VERTEX = 9; // position 3, colour 4, corner 2

  const data = JSON.parse(document.getElementById("motion-data").textContent);
  const fps = data.fps;
  // Live mode (aichoreo live --serve): no frames embedded; the live page's second script (live.js) hands
  // them in as they arrive from the server, and the page shows the newest one (the server paces them).
  const live = data.live === true;
  let nFrames = data.frames;
  const parents = data.parents;
  const nJoints = parents.length;
  let joints = live ? new Float32Array(0) : decodeFloat32(data.joints);
  let duration = (nFrames - 1) / fps; // time of the last frame
  const audioOffset = data.audio_offset || 0;
  const head = data.names.indexOf("head");
  const neck = data.names.indexOf("neck");
  // The body: each bone a capsule as thick as that part of a body (data.body, the video's radii in
  // metres by the bone's child joint; 0: not drawn on its own), the torso one capsule from the
  // pelvis to spine3. data.figure "stick", "#stick" in the URL or the b key: the stick figure.
  const bodyRadius = data.body.radii;
  const HEAD_RADIUS = data.body.head; // the head's ball, centred head_lift x (head - neck) above the head joint
  const TORSO_RADIUS = data.body.torso;
  const spine3 = data.names.indexOf("spine3");
  let body = data.figure !== "stick" && !/(^|[#&])stick\b/.test(location.hash);
  const boneColour = data.names.map((name) =>
    name.startsWith("left") ? COLOUR.left : name.startsWith("right") ? COLOUR.right : COLOUR.centre);

  const canvas = document.getElementById("view");
  const playButton = document.getElementById("play");
  const scrub = document.getElementById("scrub");
  const timeText = document.getElementById("time");
  const audio = document.getElementById("music");

  function decodeFloat32(base64) {
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }

  // ---------------------------------------------------------------- scene bounds
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < joints.length; i += 3) {
    for (let a = 0; a < 3; a++) {
      lo[a] = Math.min(lo[a], joints[i + a]);
      hi[a] = Math.max(hi[a], joints[i + a]);
    }
  }
  // Live, the dance is not known yet: a floor at y = 0 and a view of a dancer's size.
  const floorY = live ? 0 : lo[1];
  const centre = live ? [0, 0.9, 0] : [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2];
  const extent = live ? 2.4 : Math.max(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2], 1.8);

  // ---------------------------------------------------------------- small vector and matrix helpers
  const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
  const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const norm = (a) => Math.sqrt(dot(a, a));
  const clamp = (x, a, b) => Math.min(b, Math.max(a, x));

  function perspective(fovY, aspect, near, far) {
    const f = 1 / Math.tan(fovY / 2);
    const nf = 1 / (near - far);
    return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0];
  }

  function multiply(a, b) { // column-major 4x4: a @ b
    const out = new Array(16).fill(0);
    for (let c = 0; c < 4; c++) {
      for (let r = 0; r < 4; r++) {
        for (let k = 0; k < 4; k++) out[c * 4 + r] += a[k * 4 + r] * b[c * 4 + k];
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- camera (orbit about the dance's centre)
  const view = { azimuth: 0, elevation: 0.22, zoom: 1 };

  function camera() {
    const aspect = canvas.width / Math.max(1, canvas.height);
    const fit = (0.62 * extent) / Math.tan(FOV_Y / 2) / Math.min(1, aspect);
    const distance = fit * view.zoom;
    const ce = Math.cos(view.elevation);
    const direction = [Math.sin(view.azimuth) * ce, Math.sin(view.elevation), Math.cos(view.azimuth) * ce];
    const eye = add(centre, scale(direction, distance));
    const back = scale(sub(eye, centre), 1 / distance); // camera z axis
    const right = scale(cross([0, 1, 0], back), 1 / norm(cross([0, 1, 0], back)));
    const up = cross(back, right);
    const viewMatrix = [
      right[0], up[0], back[0], 0, right[1], up[1], back[1], 0, right[2], up[2], back[2], 0,
      -dot(right, eye), -dot(up, eye), -dot(back, eye), 1,
    ];
    const projection = perspective(FOV_Y, aspect, 0.05 * distance, 10 * distance + 10);
    return { eye, right, up, viewProjection: multiply(projection, viewMatrix) };
  }

  // ---------------------------------------------------------------- WebGL setup
  const gl = canvas.getContext("webgl", { antialias: true, preserveDrawingBuffer: true });
  if (!gl) {
    const message = document.getElementById("message");
    message.textContent = "This browser cannot show WebGL, which the dance viewer needs.";
    message.hidden = false;
    return;
  }

  const VERTEX_SHADER = `
    attribute vec3 a_position;
    attribute vec4 a_colour;
    attribute vec2 a_corner;
    uniform mat4 u_viewProjection;
    varying vec4 v_colour;
    varying vec2 v_corner;
    void main() {
      gl_Position = u_viewProjection * vec4(a_position, 1.0);
      v_colour = a_colour;
      v_corner = a_corner;
    }`;
  // a_corner is (0, 0) on lines, (0, +-1) across a bone ribbon and (+-1, +-1) on a disc's square:
  // outside the unit circle is cut away, and the shade darkens towards the rim (a rounded look).
  const FRAGMENT_SHADER = `
    precision mediump float;
    varying vec4 v_colour;
    varying vec2 v_corner;
    void main() {
      float r2 = dot(v_corner, v_corner);
      if (r2 > 1.0) discard;
      gl_FragColor = vec4(v_colour.rgb * (1.0 - 0.35 * r2), v_colour.a);
    }`;

  function compile(type, source) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
    return shader;
  }
  const program = gl.createProgram();
  gl.attachShader(program, compile(gl.VERTEX_SHADER, VERTEX_SHADER));
  gl.attachShader(program, compile(gl.FRAGMENT_SHADER, FRAGMENT_SHADER));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
  gl.useProgram(program);
  const attributes = ["a_position", "a_colour", "a_corner"].map((name) => gl.getAttribLocation(program, name));
  const viewProjectionLocation = gl.getUniformLocation(program, "u_viewProjection");

  function bindVertexLayout() {
    const stride = FLOATS_PER_VERTEX * 4;
    [[3, 0], [4, 3], [2, 7]].forEach(([size, offset], i) => {
      gl.enableVertexAttribArray(attributes[i]);
      gl.vertexAttribPointer(attributes[i], size, gl.FLOAT, false, stride, offset * 4);
    });
  }

  class Vertices {
    constructor(capacity) { this.array = new Float32Array(capacity * FLOATS_PER_VERTEX); this.count = 0; }
    push(p, colour, cx, cy) {
      const a = this.array;
      let o = this.count * FLOATS_PER_VERTEX;
      a[o++] = p[0]; a[o++] = p[1]; a[o++] = p[2];
      a[o++] = colour[0]; a[o++] = colour[1]; a[o++] = colour[2]; a[o++] = colour[3];
      a[o++] = cx; a[o++] = cy;
      this.count++;
    }
    quad(p0, p1, p2, p3, colour, corners) { // two triangles p0 p1 p2, p0 p2 p3
      const c = corners;
      this.push(p0, colour, c[0], c[1]); this.push(p1, colour, c[2], c[3]); this.push(p2, colour, c[4], c[5]);
      this.push(p0, colour, c[0], c[1]); this.push(p2, colour, c[4], c[5]); this.push(p3, colour, c[6], c[7]);
    }
  }
  const RIBBON = [0, -1, 0, 1, 0, 1, 0, -1];
  const DISC = [-1, -1, 1, -1, 1, 1, -1, 1];

  // Floor grid: static lines on the lowest point the dance reaches.
  const grid = new Vertices(400);
  const half = Math.ceil((Math.max(hi[0] - lo[0], hi[2] - lo[2], 2) / 2 + 0.5) / GRID_STEP) * GRID_STEP;
  const gx = Math.round(centre[0] / GRID_STEP) * GRID_STEP;
  const gz = Math.round(centre[2] / GRID_STEP) * GRID_STEP;
  for (let s = -half; s <= half + 1e-9; s += GRID_STEP) {
    grid.push([gx + s, floorY, gz - half], GRID_COLOUR, 0, 0);
    grid.push([gx + s, floorY, gz + half], GRID_COLOUR, 0, 0);
    grid.push([gx - half, floorY, gz + s], GRID_COLOUR, 0, 0);
    grid.push([gx + half, floorY, gz + s], GRID_COLOUR, 0, 0);
  }
  const gridBuffer = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, gridBuffer);
  gl.bufferData(gl.ARRAY_BUFFER, grid.array.subarray(0, grid.count * FLOATS_PER_VERTEX), gl.STATIC_DRAW);

  const shadows = new Vertices(6 * nJoints);
  const figure = new Vertices(6 * (3 * nJoints + 1));
  const dynamicBuffer = gl.createBuffer();

  // ---------------------------------------------------------------- the pose at a time
  function pose(t) { // joint positions at time t (seconds), linear between frames
    if (nFrames < 1) return null;
    const f = clamp(t * fps, 0, nFrames - 1);
    const i0 = Math.floor(f);
    const i1 = Math.min(i0 + 1, nFrames - 1);
    const w = f - i0;
    const out = [];
    for (let j = 0; j < nJoints; j++) {
      const a = (i0 * nJoints + j) * 3;
      const b = (i1 * nJoints + j) * 3;
      out.push([0, 1, 2].map((k) => (1 - w) * joints[a + k] + w * joints[b + k]));
    }
    return out;
  }

  function ribbon(vertices, a, b, side, colour) {
    vertices.quad(sub(a, side), add(a, side), add(b, side), sub(b, side), colour, RIBBON);
  }

  function disc(vertices, p, radius, cam, colour) {
    const r = scale(cam.right, radius);
    const u = scale(cam.up, radius);
    vertices.quad(sub(sub(p, r), u), sub(add(p, r), u), add(add(p, r), u), add(sub(p, r), u), colour, DISC);
  }

  function buildFigure(points, cam) {
    shadows.count = 0;
    figure.count = 0;
    const onFloor = (p) => [p[0], floorY + 0.002, p[2]];
    const bones = []; // [a, b, radius, colour]
    for (let j = 1; j < nJoints; j++) {
      const radius = body ? bodyRadius[j] : BONE_RADIUS;
      if (radius > 0) bones.push([points[parents[j]], points[j], radius, boneColour[j]]);
    }
    if (body && spine3 >= 0) bones.push([points[0], points[spine3], TORSO_RADIUS, COLOUR.centre]);
    if (body) { // far to near: flat camera-facing capsules are layered, not cut into each other by depth
      const far = (bone) => -norm(sub(scale(add(bone[0], bone[1]), 0.5), cam.eye));
      bones.sort((x, y) => far(x) - far(y));
    }
    for (const [a, b, radius, colour] of bones) {
      // Shadow: the bone flattened onto the floor, widened across its floor direction.
      const flatSide = cross(sub(onFloor(b), onFloor(a)), [0, 1, 0]);
      if (norm(flatSide) > 1e-6) {
        ribbon(shadows, onFloor(a), onFloor(b), scale(flatSide, radius / norm(flatSide)), SHADOW_COLOUR);
      }
      // Bone: a ribbon facing the camera, shaded across as a cylinder is; in the body, capped at
      // both ends by discs of its own radius and colour, which makes it a capsule.
      let side = cross(sub(b, a), sub(cam.eye, scale(add(a, b), 0.5)));
      side = norm(side) > 1e-9 ? scale(side, radius / norm(side)) : scale(cam.right, radius);
      if (body) {
        disc(figure, a, radius, cam, colour);
        disc(figure, b, radius, cam, colour);
      }
      ribbon(figure, a, b, side, colour);
    }
    if (!body) for (let j = 0; j < nJoints; j++) disc(figure, points[j], JOINT_RADIUS, cam, JOINT_COLOUR);
    if (head >= 0 && neck >= 0) {
      const up = sub(points[head], points[neck]);
      const centreOfHead = add(points[head], scale(up, data.body.head_lift));
      disc(figure, centreOfHead, HEAD_RADIUS, cam, COLOUR.centre);
    }
  }

  // ---------------------------------------------------------------- drawing
  let time = 0;

  function resize() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
  }

  function drawVertices(buffer, vertices, mode) {
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    if (vertices) {
      gl.bufferData(gl.ARRAY_BUFFER, vertices.array.subarray(0, vertices.count * FLOATS_PER_VERTEX), gl.DYNAMIC_DRAW);
    }
    bindVertexLayout();
    gl.drawArrays(mode, 0, vertices ? vertices.count : grid.count);
  }

  function render() {
    resize();
    const cam = camera();
    const points = pose(time);
    if (!points) return; // live, before the first frame
    if (live) { // follow the dancer across the floor
      centre[0] += 0.1 * (points[0][0] - centre[0]);
      centre[2] += 0.1 * (points[0][2] - centre[2]);
    }
    buildFigure(points, cam);
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(...BACKGROUND);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.uniformMatrix4fv(viewProjectionLocation, false, new Float32Array(cam.viewProjection));
    gl.enable(gl.DEPTH_TEST);
    gl.depthFunc(gl.LEQUAL);
    drawVertices(gridBuffer, null, gl.LINES);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
    gl.depthMask(false); // shadows never hide each other or the figure
    drawVertices(dynamicBuffer, shadows, gl.TRIANGLES);
    gl.depthMask(true);
    gl.disable(gl.BLEND);
    if (body) gl.disable(gl.DEPTH_TEST); // the body's capsules come sorted far to near
    drawVertices(dynamicBuffer, figure, gl.TRIANGLES);
    scrub.value = String(time);
    timeText.textContent = `${time.toFixed(2)} / ${duration.toFixed(2)} s`;
  }

  // ---------------------------------------------------------------- time: play, pause, seek
  let playing = false;
  let clockStart = 0; // performance.now() / 1000 at which motion time 0 would have been
  const now = () => performance.now() / 1000;
  const audioRunning = () => audio && !audio.paused && !audio.ended && audio.readyState >= 2;

  function seek(t) {
    time = clamp(Number.isFinite(t) ? t : 0, 0, duration);
    clockStart = now() - time;
    if (audio) {
      try { audio.currentTime = time + audioOffset; } catch (error) { /* not seekable yet: the clock leads */ }
    }
    render();
  }

  function play() {
    if (time >= duration) seek(0);
    playing = true;
    clockStart = now() - time;
    if (audio) {
      try { audio.currentTime = time + audioOffset; } catch (error) { /* the clock leads */ }
      const started = audio.play();
      if (started) started.catch(() => { /* autoplay refused or no decoder: the clock leads */ });
    }
    playButton.innerHTML = "&#10074;&#10074;";
    playButton.setAttribute("aria-label", "pause");
    requestAnimationFrame(tick);
  }

  function pause() {
    playing = false;
    if (audio) audio.pause();
    playButton.innerHTML = "&#9654;";
    playButton.setAttribute("aria-label", "play");
  }

  function tick() {
    if (!playing) return;
    let t;
    if (audioRunning()) { // the music is the master clock while it plays
      t = audio.currentTime - audioOffset;
      clockStart = now() - t;
    } else {
      t = now() - clockStart;
    }
    if (t >= duration) {
      time = duration;
      pause();
    } else {
      time = Math.max(0, t);
      requestAnimationFrame(tick);
    }
    render();
  }

  function showHashTime() {
    const match = /(?:^#|&)t=([0-9]*\.?[0-9]+)/.exec(window.location.hash);
    if (match) {
      pause();
      seek(parseFloat(match[1]));
    }
  }

  // ---------------------------------------------------------------- controls
  scrub.max = String(duration);
  scrub.step = String(1 / fps);
  scrub.addEventListener("input", () => seek(parseFloat(scrub.value)));
  playButton.addEventListener("click", () => (playing ? pause() : play()));
  window.addEventListener("keydown", (event) => {
    if (event.code === "Space") {
      event.preventDefault();
      if (playing) pause(); else play();
    } else if (event.code === "ArrowLeft" || event.code === "ArrowRight") {
      const step = (event.shiftKey ? 1 : 1 / fps) * (event.code === "ArrowLeft" ? -1 : 1);
      seek(time + step);
    } else if (event.code === "Home") {
      seek(0);
    } else if (event.code === "KeyB") {
      body = !body;
      render();
    }
  });
  let drag = null;
  canvas.addEventListener("pointerdown", (event) => {
    drag = [event.clientX, event.clientY];
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drag) return;
    view.azimuth -= (event.clientX - drag[0]) * 0.008;
    view.elevation = clamp(view.elevation + (event.clientY - drag[1]) * 0.008, -0.15, 1.45);
    drag = [event.clientX, event.clientY];
    render();
  });
  const endDrag = () => { drag = null; };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    view.zoom = clamp(view.zoom * Math.exp(event.deltaY * 0.001), 0.2, 5);
    render();
  }, { passive: false });
  canvas.addEventListener("dblclick", () => {
    Object.assign(view, { azimuth: 0, elevation: 0.22, zoom: 1 });
    render();
  });
  window.addEventListener("resize", render);
  window.addEventListener("hashchange", showHashTime);
  if (audio) audio.addEventListener("ended", () => { if (playing) clockStart = now() - time; });

  if (live) {
    startLive();
    return;
  }
  window.aichoreoViewer = { seek, play, pause, get time() { return time; }, duration };
  seek(0);
  showHashTime();

  // ---------------------------------------------------------------- live: frames handed in by live.js
  // (the live page's second script, which holds the connection: this file opens none).
  function startLive() {
    document.getElementById("bar").style.display = "none"; // no play, pause or scrub: the dance is live
    document.getElementById("hint").textContent = "drag: orbit \u00b7 wheel: zoom \u00b7 b: body/stick";
    const state = { frames: 0, received: 0, first: null, last: null };
    let capacity = 0;
    function addFrame(index, values) { // values: the joints (nJoints x 3 floats) of frame index
      if (index + 1 > capacity) { // grow by doubling: frames arrive one at a time
        capacity = Math.max(2 * capacity, index + 1, 1024);
        const grown = new Float32Array(capacity * nJoints * 3);
        grown.set(joints.subarray(0, nFrames * nJoints * 3));
        joints = grown;
      }
      joints.set(values.subarray(0, nJoints * 3), index * nJoints * 3);
      nFrames = Math.max(nFrames, index + 1);
      duration = (nFrames - 1) / fps;
      time = duration;
      state.frames = nFrames;
      state.received += 1;
      state.last = Array.from(values.subarray(0, 3)); // the pelvis, for tests and debugging
      if (state.first === null) state.first = state.last;
    }
    window.aichoreoViewer = { live: true, state, addFrame, fps, audio, get time() { return time; } };
    const loop = () => { render(); requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
  }
})();
