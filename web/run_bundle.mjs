// Run a portkit web bundle under onnxruntime-web in Node, with the bundle's own portkit-web.mjs.
// usage: node run_bundle.mjs BUNDLE_DIR INPUTS.json OUTPUTS.json
// INPUTS.json: {name: {dims, dtype, b64}} (little-endian raw bytes); OUTPUTS.json: the same for outputs.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';

const [bundle, inputsPath, outputsPath] = process.argv.slice(2);
ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

const lib = await import(pathToFileURL(path.join(path.resolve(bundle), 'portkit-web.mjs')).href);
const { manifest, session } = await lib.loadBundle(ort, path.resolve(bundle), {
  fetchBytes: async (p) => new Uint8Array(fs.readFileSync(p)),
  fetchJson: async (p) => JSON.parse(fs.readFileSync(p, 'utf8')),
});

const TYPED = { float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array };
const given = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
const feeds = {};
for (const spec of manifest.inputs) {
  const t = given[spec.name];
  if (!t) throw new Error(`no data for input '${spec.name}'`);
  const buf = Buffer.from(t.b64, 'base64');
  const bytes = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  feeds[spec.name] = lib.makeTensor(ort, spec, new TYPED[spec.dtype](bytes), t.dims);
}
const { outputs, ms } = await lib.run(session, feeds);
const result = { _ms: ms, _backend: 'wasm', _ort_version: ort.env.versions?.web ?? null };
for (const [name, o] of Object.entries(outputs)) {
  const data = o.data;
  result[name] = { dims: o.dims, dtype: o.type,
    b64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
}
fs.writeFileSync(outputsPath, JSON.stringify(result));
