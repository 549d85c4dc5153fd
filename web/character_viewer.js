// aichoreo character viewer: the user's rigged character (glb or VRM) dancing, with the music.
//
// Built into src/aichoreo/export/viewer/character.js by `npm run build` (esbuild bundles three.js,
// its GLTFLoader and OrbitControls, and @pixiv/three-vrm into one script that dance.html inlines;
// nothing is fetched). Reads the JSON script element "character-data": fps, frames, audio_offset,
// front (the character's facing, x and z), bounds (lo and hi corners of the dance, metres), kind
// ("gltf" or "vrm") and glb (the retargeted character, base64). The clip named "dance" is played
// by an AnimationMixer set to the motion time. While playing, the music is the clock (motion time
// = audio time - offset); without music, or once it has ended, the page clock. "#t=SECONDS" in
// the URL shows that moment paused. window.aichoreoViewer: {ready, show(t), play(), pause(), time}.
import * as THREE from "three";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { VRMLoaderPlugin } from "@pixiv/three-vrm";

const data = JSON.parse(document.getElementById("character-data").textContent);
const canvas = document.getElementById("view");
const playButton = document.getElementById("play");
const scrub = document.getElementById("scrub");
const timeText = document.getElementById("time");
const message = document.getElementById("message");
const audio = document.getElementById("music");
const duration = (data.frames - 1) / data.fps;
const audioOffset = data.audio_offset || 0;

function decode(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

// ------------------------------------------------------------------ scene
// preserveDrawingBuffer: tests read the canvas back after a frame is drawn.
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(window.devicePixelRatio || 1);
renderer.shadowMap.enabled = true;
const scene = new THREE.Scene();
scene.background = new THREE.Color(0xf4f4f2);
scene.add(new THREE.HemisphereLight(0xffffff, 0x8d8d8d, 2.2));
const sun = new THREE.DirectionalLight(0xffffff, 2.0);
sun.castShadow = true;
sun.shadow.mapSize.set(2048, 2048);
scene.add(sun);

const lo = data.bounds[0];
const hi = data.bounds[1];
const centre = new THREE.Vector3((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2);
const extent = Math.max(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2], 1.8);
const floorY = lo[1];
const size = Math.ceil((Math.max(hi[0] - lo[0], hi[2] - lo[2]) + 3) / 0.5) * 0.5;
const grid = new THREE.GridHelper(size, Math.round(size / 0.5), 0xccccc7, 0xccccc7);
grid.position.set(centre.x, floorY, centre.z);
scene.add(grid);
const ground = new THREE.Mesh(new THREE.PlaneGeometry(size, size), new THREE.ShadowMaterial({ opacity: 0.2 }));
ground.rotation.x = -Math.PI / 2;
ground.position.set(centre.x, floorY + 0.001, centre.z);
ground.receiveShadow = true;
scene.add(ground);
const light = Math.max(extent, 3);
sun.position.set(centre.x + light, centre.y + 2 * light, centre.z + light);
sun.target.position.copy(centre);
scene.add(sun.target);
Object.assign(sun.shadow.camera, { left: -light, right: light, top: light, bottom: -light, near: 0.1, far: 6 * light });

const camera = new THREE.PerspectiveCamera(40, 1, 0.05, 200);
const front = new THREE.Vector3(data.front[0], 0, data.front[1]).normalize();
function homeView() {
  const distance = (extent / 2 / Math.tan((20 * Math.PI) / 180)) * 1.25;
  camera.position.copy(centre).addScaledVector(front, distance).add(new THREE.Vector3(0, extent * 0.25, 0));
  controls.target.copy(centre);
  controls.update();
}
const controls = new OrbitControls(camera, canvas);
controls.enableDamping = false;
homeView();
canvas.addEventListener("dblclick", homeView);

function resize() {
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.floor(w * renderer.getPixelRatio()) || canvas.height !== Math.floor(h * renderer.getPixelRatio())) {
    renderer.setSize(w, h, false);
    camera.aspect = w / Math.max(h, 1);
    camera.updateProjectionMatrix();
  }
}

// ------------------------------------------------------------------ clock and controls
let mixer = null;
let playing = false;
let motionTime = 0;
let startedAt = 0; // page clock at motion time 0 while playing without music
const hashTime = parseFloat((location.hash.match(/t=([0-9.]+)/) || [])[1]);

function clamp(x) { return Math.min(duration, Math.max(0, x)); }
function audioDrives() { return audio && !audio.ended && audio.currentTime - audioOffset < duration; }

function show(t) {
  motionTime = clamp(t);
  if (mixer) mixer.setTime(motionTime);
  scrub.value = String(duration > 0 ? motionTime / duration : 0);
  timeText.textContent = `${motionTime.toFixed(2)} / ${duration.toFixed(2)} s`;
  resize();
  renderer.render(scene, camera);
}

function setPlaying(on) {
  playing = on;
  playButton.innerHTML = on ? "&#10074;&#10074;" : "&#9654;";
  playButton.setAttribute("aria-label", on ? "pause" : "play");
  if (on) {
    if (motionTime >= duration) motionTime = 0;
    startedAt = performance.now() / 1000 - motionTime;
    if (audio) {
      audio.currentTime = motionTime + audioOffset;
      audio.play().catch(() => {}); // autoplay refused: the page clock runs the dance
    }
  } else if (audio) {
    audio.pause();
  }
}

playButton.addEventListener("click", () => setPlaying(!playing));
scrub.addEventListener("input", () => {
  show(parseFloat(scrub.value) * duration);
  startedAt = performance.now() / 1000 - motionTime;
  if (audio && playing) audio.currentTime = motionTime + audioOffset;
});
window.addEventListener("keydown", (e) => {
  if (e.code === "Space") { setPlaying(!playing); e.preventDefault(); }
  const step = e.shiftKey ? 1 : 1 / data.fps;
  if (e.code === "ArrowRight" || e.code === "ArrowLeft") {
    show(motionTime + (e.code === "ArrowRight" ? step : -step));
    startedAt = performance.now() / 1000 - motionTime;
    if (audio && playing) audio.currentTime = motionTime + audioOffset;
    e.preventDefault();
  }
});
window.addEventListener("resize", () => show(motionTime));
controls.addEventListener("change", () => { if (!playing) renderer.render(scene, camera); });

function tick() {
  if (playing) {
    let t = audioDrives() && !audio.paused ? audio.currentTime - audioOffset : performance.now() / 1000 - startedAt;
    if (t >= duration) { t = duration; setPlaying(false); }
    show(t);
  }
  requestAnimationFrame(tick);
}

// ------------------------------------------------------------------ the character
let resolveReady;
const ready = new Promise((resolve) => { resolveReady = resolve; });
// The same interface as the skeleton viewer's (viewer.js), plus `ready` (resolves once the character is shown).
window.aichoreoViewer = {
  ready, show, play: () => setPlaying(true), pause: () => setPlaying(false),
  get time() { return motionTime; },
};

const loader = new GLTFLoader();
if (data.kind === "vrm") loader.register((parser) => new VRMLoaderPlugin(parser)); // MToon materials, VRM meta
loader.parse(decode(data.glb), "", (gltf) => {
  const model = gltf.scene;
  model.traverse((o) => { if (o.isMesh) { o.castShadow = true; o.frustumCulled = false; } });
  scene.add(model);
  const clip = gltf.animations.find((a) => a.name === "dance") || gltf.animations[0];
  mixer = new THREE.AnimationMixer(model);
  // The VRM's humanoid is not updated: its normalised bones would overwrite the dance on the raw bones.
  mixer.clipAction(clip).play();
  show(Number.isFinite(hashTime) ? hashTime : 0);
  resolveReady(true);
  requestAnimationFrame(tick);
}, (error) => {
  message.hidden = false;
  message.textContent = `cannot show the character: ${error.message || error}`;
  resolveReady(false);
});
