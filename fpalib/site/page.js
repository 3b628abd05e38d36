/**
 * The page `fpa site` writes: connects painter.js (the forward pass) to the canvases and controls
 * of index.html. Pictures are drawn at their own size (W x H canvas pixels) and enlarged by an
 * integer factor in CSS with `image-rendering: pixelated`, so every painted pixel is a sharp block.
 * Displays follow fpalib/viz/step_display.py ("output" mode): image = tanh(W_t) from [-1, 1] to [0, 1];
 * update / L + 0.5 with L the 99th percentile of |update| over the sample (0 is mid-grey); bytes are
 * round(255 x), as fpalib's sample grids.
 *
 * Hooks for tests and scripts (on window):
 *   fpaReady                  a Promise, resolved once the painters are loaded and the page is drawn
 *   fpaPaint(name, latent)    painter.js's paint() result plus limit (L) and updateDisplay
 *                             (T, C, H, W) in [0, 1]; latent: d_latent numbers
 *   fpaShow(name, latent, t)  show that latent at step t in "Watch a painter paint" (#image, #update)
 *   fpaTestLatent(name, index) the latent "paint this picture" paints for test image index with painter
 *                             name: its VAE encoder's posterior mean, computed by fpa site in PyTorch
 *   fpaShown()                {name, latent} of the painting in "Watch a painter paint"
 *   fpaPainter(name)          the loaded painter, for FpaPainter.paint(painter, latent) (benchmarks)
 * URL parameters ?painter=NAME&seed=N&step=t choose the first sample shown.
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const PAIR = ["fpa-delta-vae-fashion28-5min", "fpa-additive-rate-vae-fashion28-5min"];
  const COLOURS = ["#c33", "#2a2", "#36c"];
  const params = new URLSearchParams(window.location.search);
  const site = { painters: {}, testImages: null };
  const main = { painter: null, latent: null, result: null, limit: 1, timer: null };
  const walk = { a: null, b: null };
  const pair = { latent: null, results: [], limits: [], canvases: [] };

  const newSeed = () => Math.floor(Math.random() * 2 ** 31);
  const toByte = (v) => Math.min(255, Math.max(0, Math.floor(v * 255 + 0.5)));
  const updateShade = (limit) => (u) => Math.min(1, Math.max(0, 0.5 + (0.5 * u) / limit));

  /** Canvas of W x H pixels shown `scale` times larger. */
  function setupCanvas(canvas, width, height, scale) {
    canvas.width = width;
    canvas.height = height;
    canvas.style.width = `${width * scale}px`;
    canvas.style.height = `${height * scale}px`;
  }

  /** Draw frame t (0-based) of data (T, C, H, W), each value mapped to [0, 1] by shade; grey for C = 1. */
  function drawFrame(canvas, data, shape, t, shade = (v) => v) {
    const [, C, H, W] = shape, context = canvas.getContext("2d"), frame = context.createImageData(W, H);
    const base = t * C * H * W;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const at = (y * W + x) * 4;
        for (let k = 0; k < 3; k++) {
          frame.data[at + k] = toByte(shade(data[base + ((C === 1 ? 0 : k) * H + y) * W + x]));
        }
        frame.data[at + 3] = 255;
      }
    }
    context.putImageData(frame, 0, 0);
  }

  /** Bars of step t of data (T, C, n), one band per channel; symmetric: around a zero line. */
  function drawBars(canvas, data, C, n, t, scale, symmetric) {
    const width = Math.max(3, Math.floor(150 / n)), band = 34, gap = 4, context = canvas.getContext("2d");
    canvas.width = n * width;
    canvas.height = C * (band + gap) - gap;
    for (let ch = 0; ch < C; ch++) {
      const top = ch * (band + gap);
      context.fillStyle = "#f2f2f2";
      context.fillRect(0, top, canvas.width, band);
      context.fillStyle = C === 1 ? "#555" : COLOURS[ch];
      for (let i = 0; i < n; i++) {
        const value = data[(t * C + ch) * n + i] / scale;
        const height = symmetric ? (Math.abs(value) * band) / 2 : value * band;
        const y = symmetric ? (value > 0 ? top + band / 2 - height : top + band / 2) : top + band - height;
        context.fillRect(i * width, y, width - 1, height);
      }
      if (symmetric) {
        context.fillStyle = "#999";
        context.fillRect(0, top + band / 2, canvas.width, 1);
      }
    }
  }

  const maxAbs = (array) => array.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-12);

  /** Everything "Watch a painter paint" shows at the slider's step. */
  function drawMain() {
    const r = main.result, [T, C, H, W] = r.shape, t = Number($("step").value) - 1, cfg = main.painter.config;
    drawFrame($("image"), r.images, r.shape, t);
    drawFrame($("update"), r.updates, r.shape, t, updateShade(main.limit));
    drawBars($("keys"), r.keys, C, W, t, maxAbs(r.keys), false);
    drawBars($("values"), r.values, C, H, t, maxAbs(r.values), true);
    const rates = $("rates"), context = rates.getContext("2d");
    rates.width = 120;
    rates.height = C * 16;
    for (let ch = 0; ch < C; ch++) {
      context.fillStyle = "#f2f2f2";
      context.fillRect(0, ch * 16, 120, 12);
      context.fillStyle = C === 1 ? "#555" : COLOURS[ch];
      context.fillRect(0, ch * 16, 120 * r.beta[t * C + ch], 12);
    }
    const betas = Array.from(r.beta.subarray(t * C, (t + 1) * C), (b) => b.toFixed(3)).join(", ");
    const first = t === 0 && cfg.first_step_beta_one && cfg.rule !== "additive"
      ? ` (step 1 uses rate 1; sigmoid gave ${Array.from(r.rate.subarray(0, C), (b) => b.toFixed(3)).join(", ")})` : "";
    const none = cfg.rule === "additive" ? " (this rule has no rate)" : "";
    $("rate-caption").textContent = `learning rate \u03b2_t = ${betas}${first}${none}`;
    const kind = `${H}\u00d7${W}, ${C === 1 ? "grey" : "RGB"}, ${cfg.rule} rule`;
    $("step-label").textContent = `step ${t + 1} of ${T} (${kind})`;
  }

  /** Paint latent with painter `name` and show it at step (default: the last). */
  function showMain(name, latent, source, step, original = null) {
    stopPlay();
    const painter = site.painters[name];
    if (!painter) throw new Error(`no painter ${name} on this page`);
    const changed = main.painter !== painter;
    main.painter = painter;
    main.latent = Array.from(latent);
    main.result = FpaPainter.paint(painter, latent);
    main.limit = FpaPainter.updateLimit(main.result.updates);
    const [T, , H, W] = main.result.shape, scale = Math.max(1, Math.floor(196 / W));
    setupCanvas($("update"), W, H, scale);
    setupCanvas($("image"), W, H, scale);
    $("painter").value = name;
    $("step").max = T;
    $("step").value = step === undefined ? T : Math.min(T, Math.max(1, step));
    $("source").textContent = `${painter.title}: ${source}. Update scale L = ${main.limit.toPrecision(3)}.`;
    $("original-figure").hidden = original === null;
    if (original !== null) {
      setupCanvas($("original"), W, H, scale);
      drawFrame($("original"), original.pixels, [1, 1, H, W], 0);
      $("original-caption").textContent = original.caption;
    }
    drawMain();
    if (changed) newWalk("ab", [2, 3]);
  }

  function newSample() {
    const seed = newSeed(), cfg = main.painter.config;
    showMain(main.painter.name, FpaPainter.gaussianLatent(seed, cfg.latent_dim), `sample of seed ${seed}`);
  }

  function stopPlay() {
    if (main.timer !== null) clearInterval(main.timer);
    main.timer = null;
    $("play").textContent = "play";
  }

  /** Step the slider from 1 to T, a frame every 90 ms. */
  function play() {
    if (main.timer !== null) return stopPlay();
    const slider = $("step");
    slider.value = 1;
    drawMain();
    $("play").textContent = "stop";
    main.timer = setInterval(() => {
      if (Number(slider.value) >= Number(slider.max)) return stopPlay();
      slider.value = Number(slider.value) + 1;
      drawMain();
    }, 90);
  }

  /** The painter "paint this picture" uses: the one shown if it has test latents, else the first that has. */
  const picturePainter = () => (main.painter.testLatents ? main.painter
    : Object.values(site.painters).find((p) => p.testLatents));

  /**
   * The thumbnails of the test images; a click paints the image's posterior mean under the painter's VAE
   * encoder (computed by fpa site when it wrote the page, stored in site.json).
   */
  function buildThumbs() {
    const images = site.testImages;
    if (!Object.values(site.painters).some((p) => p.testLatents)) {
      $("picture-part").hidden = true;
      return;
    }
    const [count, C, H, W] = images.shape, size = C * H * W;
    for (let index = 0; index < count; index++) {
      const canvas = document.createElement("canvas"), bytes = images.pixels.subarray(index * size, (index + 1) * size);
      canvas.className = "px";
      canvas.id = `thumb-${index}`;
      canvas.title = `${images.labels[index]}: paint this picture`;
      setupCanvas(canvas, W, H, 2);
      drawFrame(canvas, Float32Array.from(bytes, (b) => b / 255), [1, C, H, W], 0);
      canvas.addEventListener("click", () => {
        const caption = `test image ${images.indices[index]} (${images.labels[index]})`, painter = picturePainter();
        showMain(painter.name, testLatent(painter.name, index),
          `posterior mean of ${caption} under this painter's encoder (run when the page was built)`, 1,
          { pixels: Float32Array.from(bytes, (b) => b / 255), caption });
        play();
      });
      $("thumbs").append(canvas);
    }
  }

  /** Posterior mean of test image index under painter name's VAE encoder (from site.json). */
  function testLatent(name, index) {
    const painter = site.painters[name];
    if (!painter || !painter.testLatents) throw new Error(`no test latents for ${name} on this page`);
    if (!(index >= 0 && index < painter.testLatents.length)) throw new Error(`no test image ${index}`);
    return Array.from(painter.testLatents[index]);
  }

  /** New latents A and/or B for the walk (both by default; seeds: random or given), then redraw it. */
  function newWalk(which = "ab", seeds = [newSeed(), newSeed()]) {
    const d = main.painter.config.latent_dim;
    [...which].forEach((end, i) => { walk[end] = FpaPainter.gaussianLatent(seeds[i], d); });
    const [, , H, W] = main.result.shape, scale = Math.max(1, Math.floor(150 / W));
    for (const id of ["walk-a", "walk-mix", "walk-b"]) setupCanvas($(id), W, H, scale);
    for (const end of "ab") {
      const r = FpaPainter.paint(main.painter, walk[end]);
      drawFrame($(`walk-${end}`), r.images, r.shape, r.shape[0] - 1);
    }
    drawWalk();
  }

  function drawWalk() {
    const s = Number($("mix").value) / 100, r = FpaPainter.paint(main.painter, FpaPainter.slerp(walk.a, walk.b, s));
    drawFrame($("walk-mix"), r.images, r.shape, r.shape[0] - 1);
    $("mix-label").textContent = `${Math.round(100 * (1 - s))}% A, ${Math.round(100 * s)}% B`;
  }

  /** The delta / additive pair: one column of update and image per painter. */
  function buildPair() {
    for (const name of PAIR) {
      const column = document.createElement("div"), painter = site.painters[name];
      column.innerHTML = `<div class="note">${painter.title}</div><div class="row"></div>`;
      const canvases = ["update", "image"].map((kind) => {
        const figure = document.createElement("figure"), canvas = document.createElement("canvas");
        canvas.className = "px";
        canvas.id = `pair-${name}-${kind}`;
        figure.append(canvas);
        const caption = kind === "update" ? "update of step t" : "image after step t";
        figure.insertAdjacentHTML("beforeend", `<figcaption>${caption}</figcaption>`);
        column.lastChild.append(figure);
        return canvas;
      });
      pair.canvases.push(canvases);
      $("pair").append(column);
    }
  }

  function newPair(seed = newSeed()) {
    const painters = PAIR.map((name) => site.painters[name]);
    pair.latent = FpaPainter.gaussianLatent(seed, painters[0].config.latent_dim);
    pair.results = painters.map((p) => FpaPainter.paint(p, pair.latent));
    pair.limits = pair.results.map((r) => FpaPainter.updateLimit(r.updates));
    const [T, , H, W] = pair.results[0].shape, scale = Math.max(1, Math.floor(150 / W));
    pair.canvases.flat().forEach((canvas) => setupCanvas(canvas, W, H, scale));
    $("pair-step").max = T;
    $("pair-step").value = T;
    $("pair-label").dataset.seed = seed;
    drawPair();
  }

  function drawPair() {
    const t = Number($("pair-step").value) - 1;
    pair.results.forEach((r, i) => {
      drawFrame(pair.canvases[i][0], r.updates, r.shape, t, updateShade(pair.limits[i]));
      drawFrame(pair.canvases[i][1], r.images, r.shape, t);
    });
    $("pair-label").textContent = `step ${t + 1} of ${pair.results[0].shape[0]}, seed ${$("pair-label").dataset.seed}`;
  }

  function fpaPaint(name, latent) {
    const painter = site.painters[name];
    if (!painter) throw new Error(`no painter ${name}; this page has ${Object.keys(site.painters).join(", ")}`);
    const result = FpaPainter.paint(painter, Array.from(latent, Number));
    const limit = FpaPainter.updateLimit(result.updates), shade = updateShade(limit);
    return { ...result, limit, updateDisplay: Float32Array.from(result.updates, shade) };
  }

  async function start() {
    const started = performance.now();
    const loaded = await FpaPainter.loadSite(".");
    Object.assign(site, { painters: loaded.painters, testImages: loaded.testImages });
    for (const [name, painter] of Object.entries(site.painters)) {
      $("painter").add(new Option(painter.title, name));
    }
    const names = Object.keys(site.painters);
    const first = params.get("painter") || (site.painters[PAIR[0]] ? PAIR[0] : names[0]);
    const seed = Number(params.get("seed") || 1), step = params.has("step") ? Number(params.get("step")) : undefined;
    const loadMs = performance.now() - started;
    const latent = FpaPainter.gaussianLatent(seed, site.painters[first].config.latent_dim);
    showMain(first, latent, `sample of seed ${seed}`, step);
    buildThumbs();
    if (PAIR.every((name) => site.painters[name])) {
      buildPair();
      newPair(1);
    } else $("rules-section").hidden = true;
    $("painter").addEventListener("change", (event) => {
      const cfg = site.painters[event.target.value].config;
      showMain(event.target.value, FpaPainter.gaussianLatent(1, cfg.latent_dim), "sample of seed 1");
    });
    $("new-sample").addEventListener("click", newSample);
    $("play").addEventListener("click", play);
    $("step").addEventListener("input", () => { stopPlay(); drawMain(); });
    $("new-a").addEventListener("click", () => newWalk("a"));
    $("new-b").addEventListener("click", () => newWalk("b"));
    $("mix").addEventListener("input", drawWalk);
    $("new-pair").addEventListener("click", () => newPair());
    $("pair-step").addEventListener("input", drawPair);
    const times = [0, 1, 2].map(() => { // the fastest of three: the first calls also compile the code
      const paintStart = performance.now();
      FpaPainter.paint(main.painter, walk.a);
      return performance.now() - paintStart;
    });
    const [T, C, H, W] = main.result.shape;
    $("status").textContent = `${names.length} painters loaded in ${Math.round(loadMs)} ms. Painting one ` +
      `${H}\u00d7${W} sample with all its ${T} steps takes ${Math.round(Math.min(...times))} ms in this browser` +
      ` (${C === 1 ? "grey" : "RGB"}, ${main.painter.name}).`;
  }

  window.fpaPaint = fpaPaint;
  window.fpaPainter = (name) => site.painters[name];
  window.fpaShow = (name, latent, step) => showMain(name, Array.from(latent, Number), "latent given by fpaShow", step);
  window.fpaTestLatent = testLatent;
  window.fpaShown = () => ({ name: main.painter.name, latent: Array.from(main.latent) });
  window.fpaReady = start().catch((error) => {
    const status = $("status");
    status.className = "error";
    status.textContent = `The painters could not be loaded (${error.message}). Open this page through a web server ` +
      "(e.g. `python -m http.server` in its folder), not as a file.";
    throw error;
  });
})();
