/**
 * The Fast Weight Painter's forward pass in plain JavaScript, for the page `fpa site` writes.
 *
 * Written by hand rather than run through a vendored inference runtime (ONNX Runtime Web,
 * TensorFlow.js): a painter is one small linear input generator, one LSTM and one linear layer
 * followed by T rank-one updates, so a few plain loops are all it takes. They are smaller than any
 * runtime (kilobytes, not megabytes), need no CDN, no build step and no model conversion, and read
 * line by line beside fpalib/models/painter.py, fpalib/models/input_generator.py and
 * fpalib/rules/{delta,additive,common}.py, which they follow (one liberty, exact in arithmetic: the
 * v2 input generator's per-step linear layer is merged into the LSTM's input weights, see
 * makePainter). Arithmetic is in float64 (JavaScript's number) on the float16 weights; PyTorch
 * computes in float32, and the images of both agree within 1/255 at every step (tests/test_site.py).
 *
 * Shapes of one sample (T steps, C channels, H = d_value image rows, W = d_key image columns):
 *   z (d_latent) -> s (T, d_in) -> h (T, d_hidden) -> keys (T, C, W), values (T, C, H),
 *   beta (T, C) -> updates, cumulative (T, C, H, W): the rank-one update of step t and W_t.
 * Every array is a flat typed array in that (row-major) order.
 */
"use strict";

const FpaPainter = (() => {
  const HALF = new Float32Array(65536); // float16 bit pattern -> value
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1, exponent = (bits >> 10) & 31, fraction = bits & 1023;
    HALF[bits] = exponent === 0 ? sign * fraction * 2 ** -24
      : exponent === 31 ? (fraction ? NaN : sign * Infinity)
        : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }

  /**
   * Tensors {key: Float64Array} from a .bin (ArrayBuffer) and its specs {key: {dtype, shape, offset}}.
   * Every array the forward pass reads is a Float64Array, so that V8 compiles its loops for one type.
   */
  function readTensors(buffer, specs) {
    const view = new DataView(buffer), tensors = {};
    for (const [key, spec] of Object.entries(specs)) {
      const count = spec.shape.reduce((a, b) => a * b, 1), values = new Float64Array(count);
      const half = spec.dtype === "float16", width = half ? 2 : 4;
      if (spec.offset + count * width > buffer.byteLength) throw new Error(`${key} lies beyond the end of its file`);
      for (let i = 0; i < count; i++) {
        const at = spec.offset + i * width;
        values[i] = half ? HALF[view.getUint16(at, true)] : view.getFloat32(at, true);
      }
      tensors[key] = values;
    }
    return tensors;
  }

  /**
   * A painter {name, title, config, testLatents, weights} from its manifest entry and its .bin. testLatents
   * (null for a painter without them) are the posterior means of the site's test images under the painter's
   * VAE encoder, which fpa site ran in PyTorch when it wrote the page (the encoder is not on the page):
   * float32 values, rounded here with Math.fround to exactly the float32 numbers PyTorch computed.
   * Per LSTM layer it adds the input weights "lstm.input_l<l>" (4 d_hidden, d) and the bias
   * "lstm.bias_l<l>" = b_ih + b_hh. For layer 0 of a v2 painter the input generator's per-step layer
   * x_t = P s_t + p (P: d'_in x d_in) is linear and feeds the LSTM's linear input map directly, so
   * W_ih x_t + b = (W_ih P) s_t + (W_ih p + b): the product is taken once here, in float64, and
   * every step then costs 4 d_hidden x d_in instead of 4 d_hidden x d'_in multiplications.
   */
  function makePainter(name, entry, buffer) {
    const weights = readTensors(buffer, entry.tensors), cfg = entry.config, G = 4 * cfg.hidden;
    for (let layer = 0; layer < cfg.layers; layer++) {
      const ih = weights[`sequence_processor.lstm.weight_ih_l${layer}`];
      const hh = weights[`sequence_processor.lstm.bias_hh_l${layer}`];
      const bias = Float64Array.from(weights[`sequence_processor.lstm.bias_ih_l${layer}`], (b, i) => b + hh[i]);
      let input = ih;
      if (layer === 0 && cfg.input_version === "v2") {
        const P = weights["input_generator.per_step.weight"], d = cfg.input_dim, dOut = cfg.input_proj_dim;
        matvec(ih, bias, weights["input_generator.per_step.bias"], 0, G, dOut, bias, 0);
        input = new Float64Array(G * d);
        for (let r = 0; r < G; r++) {
          for (let k = 0; k < dOut; k++) {
            const scale = ih[r * dOut + k];
            for (let j = 0; j < d; j++) input[r * d + j] += scale * P[k * d + j];
          }
        }
      }
      weights[`lstm.input_l${layer}`] = input;
      weights[`lstm.bias_l${layer}`] = bias;
    }
    const testLatents = entry.test_latents ? entry.test_latents.map((row) => row.map(Math.fround)) : null;
    return { name, title: entry.title, config: cfg, testLatents, weights };
  }

  /**
   * out[outAt + r] = bias[r] + sum_c weight[r, c] x[xAt + c] for r < rows; weight (rows, cols), bias or null.
   * Four rows and two columns at a time: each x[c] is read once for four rows (a third faster in V8).
   */
  function matvec(weight, bias, x, xAt, rows, cols, out, outAt) {
    let r = 0;
    for (; r + 3 < rows; r += 4) {
      const a = r * cols, b = a + cols, c = b + cols, d = c + cols;
      let a0 = 0, b0 = 0, c0 = 0, d0 = 0, a1 = 0, b1 = 0, c1 = 0, d1 = 0, i = 0;
      for (; i + 1 < cols; i += 2) {
        const x0 = x[xAt + i], x1 = x[xAt + i + 1];
        a0 += weight[a + i] * x0; b0 += weight[b + i] * x0; c0 += weight[c + i] * x0; d0 += weight[d + i] * x0;
        a1 += weight[a + i + 1] * x1; b1 += weight[b + i + 1] * x1;
        c1 += weight[c + i + 1] * x1; d1 += weight[d + i + 1] * x1;
      }
      if (i < cols) {
        const x0 = x[xAt + i];
        a0 += weight[a + i] * x0; b0 += weight[b + i] * x0; c0 += weight[c + i] * x0; d0 += weight[d + i] * x0;
      }
      out[outAt + r] = (bias ? bias[r] : 0) + a0 + a1;
      out[outAt + r + 1] = (bias ? bias[r + 1] : 0) + b0 + b1;
      out[outAt + r + 2] = (bias ? bias[r + 2] : 0) + c0 + c1;
      out[outAt + r + 3] = (bias ? bias[r + 3] : 0) + d0 + d1;
    }
    for (; r < rows; r++) {
      let s = bias ? bias[r] : 0;
      for (let i = 0; i < cols; i++) s += weight[r * cols + i] * x[xAt + i];
      out[outAt + r] = s;
    }
  }

  const sigmoid = (x) => 1 / (1 + Math.exp(-x));

  /**
   * InputGenerator (Eq. 4): z (d_latent) -> (T, d). v1: z at every step (d = d_latent); v2: tanh(Linear(z))
   * split into T vectors s_t (d = d_in), whose per-step layer to d'_in is merged into the LSTM (makePainter).
   */
  function inputSequence(p, z) {
    const cfg = p.config, w = p.weights, T = cfg.num_steps, L = cfg.latent_dim;
    if (cfg.input_version === "v1") {
      const x = new Float64Array(T * L);
      for (let t = 0; t < T; t++) x.set(z, t * L);
      return [x, L];
    }
    const d = cfg.input_dim, seq = new Float64Array(T * d);
    matvec(w["input_generator.sequence.weight"], w["input_generator.sequence.bias"], z, 0, T * d, L, seq, 0);
    if (cfg.input_tanh) for (let i = 0; i < seq.length; i++) seq[i] = Math.tanh(seq[i]);
    return [seq, d];
  }

  /** SequenceProcessor: LSTM (PyTorch's gates i, f, g, o) from (h0, c0) = Linear(z), or zeros: (T, d_hidden). */
  function lstm(p, x, inDim, z) {
    const cfg = p.config, w = p.weights, T = cfg.num_steps, H = cfg.hidden, G = 4 * H;
    let init = null;
    if (cfg.latent_to_init) { // (2, layers, hidden): h0 of every layer, then c0 of every layer
      init = new Float64Array(2 * cfg.layers * H);
      const key = "sequence_processor.latent_to_init";
      matvec(w[`${key}.weight`], w[`${key}.bias`], z, 0, init.length, cfg.latent_dim, init, 0);
    }
    for (let layer = 0; layer < cfg.layers; layer++) {
      const h = init ? init.slice(layer * H, (layer + 1) * H) : new Float64Array(H);
      const c = init ? init.slice((cfg.layers + layer) * H, (cfg.layers + layer + 1) * H) : new Float64Array(H);
      const ih = w[`lstm.input_l${layer}`], hh = w[`sequence_processor.lstm.weight_hh_l${layer}`];
      const gates = new Float64Array(T * G), recurrent = new Float64Array(G), out = new Float64Array(T * H);
      for (let t = 0; t < T; t++) matvec(ih, w[`lstm.bias_l${layer}`], x, t * inDim, G, inDim, gates, t * G);
      for (let t = 0; t < T; t++) {
        matvec(hh, null, h, 0, G, H, recurrent, 0);
        const at = t * G;
        for (let j = 0; j < H; j++) {
          const i = sigmoid(gates[at + j] + recurrent[j]), f = sigmoid(gates[at + H + j] + recurrent[H + j]);
          const g = Math.tanh(gates[at + 2 * H + j] + recurrent[2 * H + j]);
          const o = sigmoid(gates[at + 3 * H + j] + recurrent[3 * H + j]);
          c[j] = f * c[j] + i * g;
          h[j] = o * Math.tanh(c[j]);
        }
        out.set(h, t * H);
      }
      x = out;
      inDim = H;
    }
    return x;
  }

  /**
   * Paint latent z (array of d_latent numbers) with painter p. Returns {shape: [T, C, H, W],
   * keys (T, C, W) after the key norm, values (T, C, H), beta (T, C) as the rule used it (1 at step 1
   * under first_step_beta_one, 1 throughout for the rule without a rate), rate (T, C) the sigmoid
   * output, updates and cumulative (T, C, H, W) before the output tanh, images (T, C, H, W) the
   * output after every step mapped from [-1, 1] to [0, 1]}.
   */
  function paint(p, z) {
    const cfg = p.config, w = p.weights, [C, H, W] = cfg.shape, T = cfg.num_steps;
    if (z.length !== cfg.latent_dim) throw new Error(`${p.name} needs a latent of ${cfg.latent_dim} numbers`);
    z = Float64Array.from(z);
    const [x, inDim] = inputSequence(p, z);
    const hidden = lstm(p, x, inDim, z);
    const withRate = cfg.rule !== "additive", rows = C * (W + H + (withRate ? 1 : 0));
    const projected = new Float64Array(T * rows); // UpdateNet, Eq. 8: [k (C*W), v (C*H), b (C)]
    for (let t = 0; t < T; t++) {
      matvec(w["update_net.projection.weight"], w["update_net.projection.bias"] || null, hidden, t * cfg.hidden,
        rows, cfg.hidden, projected, t * rows);
    }
    const keys = new Float32Array(T * C * W), values = new Float32Array(T * C * H);
    const beta = new Float32Array(T * C), rate = new Float32Array(T * C);
    const updates = new Float32Array(T * C * H * W), cumulative = new Float32Array(T * C * H * W);
    const fast = new Float64Array(C * H * W), key = new Float64Array(W);
    for (let t = 0; t < T; t++) {
      const row = t * rows;
      for (let ch = 0; ch < C; ch++) {
        const kAt = row + ch * W, vAt = row + C * W + ch * H;
        let max = -Infinity, sum = 0;
        for (let i = 0; i < W; i++) max = Math.max(max, projected[kAt + i]);
        for (let i = 0; i < W; i++) {
          key[i] = cfg.key_norm === "softmax" ? Math.exp(projected[kAt + i] - max) : projected[kAt + i];
          sum += key[i];
        }
        if (cfg.key_norm === "softmax") for (let i = 0; i < W; i++) key[i] /= sum;
        const r = withRate ? sigmoid(projected[row + C * (W + H) + ch]) : 1; // beta_t = sigma(b_t), Eq. 9
        const b = withRate && !(t === 0 && cfg.first_step_beta_one) ? r : 1;
        rate[t * C + ch] = r;
        beta[t * C + ch] = b;
        keys.set(key, (t * C + ch) * W);
        const matrix = ch * H * W, step = (t * C + ch) * H * W;
        for (let y = 0; y < H; y++) {
          const value = projected[vAt + y];
          values[(t * C + ch) * H + y] = value;
          let retrieved = 0; // W_{t-1} phi(k_t), read by the delta rule only
          if (cfg.rule === "delta") for (let i = 0; i < W; i++) retrieved += fast[matrix + y * W + i] * key[i];
          const delta = b * (value - retrieved);
          for (let i = 0; i < W; i++) {
            const update = delta * key[i], at = matrix + y * W + i;
            fast[at] += update;
            updates[step + y * W + i] = update;
            cumulative[step + y * W + i] = fast[at];
          }
        }
      }
    }
    const images = new Float32Array(cumulative.length);
    for (let i = 0; i < images.length; i++) {
      const out = cfg.out_tanh ? Math.tanh(cumulative[i]) : cumulative[i];
      images[i] = Math.min(1, Math.max(0, (out + 1) / 2));
    }
    return { shape: [T, C, H, W], keys, values, beta, rate, updates, cumulative, images };
  }

  /**
   * L: the percentile of |updates| over all entries (1 when all are 0), as fpalib.viz.step_display.update_limit:
   * the k-th smallest magnitude, k = max(1, ceil(percentile / 100 n)), found by quickselect (a full sort of the
   * 98,304 entries of a 3x32x32, T = 32 painting takes 20 ms; this, about 1 ms).
   */
  function updateLimit(updates, percentile = 99) {
    const n = updates.length, magnitudes = new Float64Array(n);
    if (!n) return 1;
    for (let i = 0; i < n; i++) magnitudes[i] = Math.abs(updates[i]);
    const k = Math.max(1, Math.ceil((percentile / 100) * n)) - 1;
    let low = 0, high = n - 1;
    while (low < high) { // Hoare partition around the middle value; keep the side that holds index k
      const pivot = magnitudes[(low + high) >> 1];
      let i = low, j = high;
      while (i <= j) {
        while (magnitudes[i] < pivot) i++;
        while (magnitudes[j] > pivot) j--;
        if (i <= j) {
          const swap = magnitudes[i];
          magnitudes[i++] = magnitudes[j];
          magnitudes[j--] = swap;
        }
      }
      if (k <= j) high = j;
      else if (k >= i) low = i;
      else break; // j < k < i: magnitudes[k] equals the pivot
    }
    return magnitudes[k] > 0 ? magnitudes[k] : 1;
  }

  /** d Gaussian numbers from an integer seed (mulberry32 and Box-Muller; not torch's generator). */
  function gaussianLatent(seed, d) {
    let state = seed >>> 0;
    const uniform = () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = Math.imul(state ^ (state >>> 15), state | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const z = [];
    while (z.length < d) {
      const radius = Math.sqrt(-2 * Math.log(1 - uniform())), angle = 2 * Math.PI * uniform();
      z.push(radius * Math.cos(angle), radius * Math.sin(angle));
    }
    return z.slice(0, d);
  }

  /** The point at fraction s of the spherical path from a to b (fpalib.sampling.interpolate_latents). */
  function slerp(a, b, s) {
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
    const angle = Math.acos(Math.min(1, Math.max(-1, dot / Math.max(Math.sqrt(na * nb), 1e-12))));
    if (Math.sin(angle) < 1e-6) return a.map((value, i) => (1 - s) * value + s * b[i]);
    return a.map((value, i) => (Math.sin((1 - s) * angle) * value + Math.sin(s * angle) * b[i]) / Math.sin(angle));
  }

  /** The site's painters {name: painter} and test images, fetched relative to the page. */
  async function loadSite(base = ".") {
    const response = await fetch(`${base}/site.json`);
    if (!response.ok) throw new Error(`site.json: HTTP ${response.status}`);
    const manifest = await response.json(), painters = {};
    await Promise.all(Object.entries(manifest.painters).map(async ([name, entry]) => {
      const bin = await fetch(`${base}/${entry.file}`);
      if (!bin.ok) throw new Error(`${entry.file}: HTTP ${bin.status}`);
      painters[name] = makePainter(name, entry, await bin.arrayBuffer());
    }));
    const images = manifest.test_images, bytes = await fetch(`${base}/${images.file}`);
    const pixels = new Uint8Array(await bytes.arrayBuffer());
    return { manifest, painters, testImages: { ...images, pixels } };
  }

  return { loadSite, makePainter, paint, updateLimit, gaussianLatent, slerp };
})();

if (typeof module !== "undefined") module.exports = FpaPainter; // Node.js, for a quick check outside a browser
