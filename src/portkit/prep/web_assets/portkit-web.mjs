// portkit web bundle runtime: loads manifest.json and the model with onnxruntime-web and runs it.
// Works in browsers (fetch) and in Node (pass fs-based loaders); `ort` is the onnxruntime-web module.

const TYPED = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array,
  float16: Uint16Array,
};
const ORT_TYPE = { float64: 'float64', float32: 'float32', float16: 'float16', int8: 'int8', uint8: 'uint8',
  int16: 'int16', uint16: 'uint16', int32: 'int32', int64: 'int64', uint64: 'uint64', bool: 'bool' };

const join = (base, name) => (base ? base.replace(/\/?$/, '/') : '') + name;
const defaultBytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
const defaultJson = async (url) => (await fetch(url)).json();

/** Read manifest.json and create an InferenceSession for the bundle at `base` (a URL or folder). */
export async function loadBundle(ort, base = '', options = {}) {
  const { fetchBytes = defaultBytes, fetchJson = defaultJson, executionProviders = ['wasm'] } = options;
  const manifest = await fetchJson(join(base, 'manifest.json'));
  const model = await fetchBytes(join(base, manifest.model));
  const session = await ort.InferenceSession.create(model, { executionProviders, graphOptimizationLevel: 'all' });
  return { manifest, session };
}

/** Concrete dims for an input: dynamic axes take `batch` (axis 0) or the manifest's default size. */
export function concreteDims(spec, batch = 1) {
  return spec.shape.map((d, i) => (Number.isInteger(d) && d > 0 ? d : i === 0 ? batch : (spec.default_dim || 1)));
}

/** An ort.Tensor for input `spec` from a typed array (or plain numbers). */
export function makeTensor(ort, spec, data, dims) {
  const Typed = TYPED[spec.dtype];
  if (!Typed) throw new Error(`input '${spec.name}': dtype ${spec.dtype} is not supported by this page`);
  const arr = data instanceof Typed ? data : Typed.from(data, spec.dtype === 'int64' ? (v) => BigInt(v) : undefined);
  return new ort.Tensor(ORT_TYPE[spec.dtype], arr, dims);
}

/** Seeded uniform [0, 1) feeds for every input (integers: 0..9), for a smoke test. */
export function randomFeeds(ort, manifest, batch = 1, seed = 1) {
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  const feeds = {};
  for (const spec of manifest.inputs) {
    const dims = concreteDims(spec, batch);
    const n = dims.reduce((a, b) => a * b, 1);
    const vals = Array.from({ length: n }, () => (spec.dtype.startsWith('float') ? rnd() : Math.floor(rnd() * 10)));
    feeds[spec.name] = makeTensor(ort, spec, vals, dims);
  }
  return feeds;
}

/** Run the session; returns {name: {dims, type, data}} plus the wall time in ms. */
export async function run(session, feeds) {
  const t0 = (globalThis.performance || Date).now();
  const out = await session.run(feeds);
  const ms = (globalThis.performance || Date).now() - t0;
  const result = {};
  for (const name of session.outputNames) {
    result[name] = { dims: out[name].dims, type: out[name].type, data: out[name].data };
  }
  return { outputs: result, ms };
}

/** Index of the largest value in each row of a [N, C] output (top-1 class). */
export function argmax(output) {
  const c = output.dims[output.dims.length - 1];
  const rows = output.data.length / c;
  const best = [];
  for (let r = 0; r < rows; r++) {
    let k = 0;
    for (let j = 1; j < c; j++) if (output.data[r * c + j] > output.data[r * c + k]) k = j;
    best.push(k);
  }
  return best;
}
