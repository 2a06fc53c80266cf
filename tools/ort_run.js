#!/usr/bin/env node
// Runs an ONNX model with onnxruntime (CPU execution provider) from Node.js: kiln's check that an exported model
// computes what LibTorch computes (runtime/export/include/kiln/export/onnxruntime.h, docs/export.md).
//
//   node tools/ort_run.js MODEL.onnx INPUT.bin NxCxHxW OUTPUT.bin
//       INPUT.bin: raw float32 little-endian, N*C*H*W values. Writes the model's outputs as raw float32
//       little-endian: the first to OUTPUT.bin, output k ≥ 1 to OUTPUT.bin.k (DetectNet_v2 has two). Prints one JSON
//       line on stdout: {"name":…, "dims":[…], "type":…} of the first output, and "outputs": [{"name", "dims", "type",
//       "file"}, …] for every output in the model's order.
//       A float16 model input/output is converted from/to float32 (kiln's own fp16 models have float32 I/O).
//   node tools/ort_run.js --version
//       Prints onnxruntime's version (exit 0 when it loads).
//
// onnxruntime-node is looked up in $KILN_ORT_DIR/.deps, then <this script>/../.deps (setup.sh installs it there with
// `npm install --prefix .deps --ignore-scripts onnxruntime-node@<pin>`), then Node's normal module path.
'use strict';
const fs = require('fs');
const path = require('path');

function fail(msg) {
  process.stderr.write(`ort_run: ${msg}\n`);
  process.exit(1);
}

function loadOrt() {
  const roots = [];
  if (process.env.KILN_ORT_DIR) roots.push(path.resolve(process.env.KILN_ORT_DIR, '.deps', 'node_modules'));
  const own = path.resolve(__dirname, '..', '.deps', 'node_modules');
  if (!roots.includes(own)) roots.push(own);
  const tried = [];
  for (const root of roots) {
    const dir = path.join(root, 'onnxruntime-node');
    if (fs.existsSync(dir)) return require(dir);
    tried.push(dir);
  }
  try {
    return require('onnxruntime-node');
  } catch (e) {
    fail(`onnxruntime-node not found (looked in ${tried.join(', ')} and the Node module path); ` +
         'run ./setup.sh to install it');
  }
}

// IEEE half <-> single precision, round-to-nearest-even (Node 20 has no Float16Array).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toHalf(x) {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);  // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;                          // overflow → inf
  if (e <= 0) {                                                   // subnormal or zero
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h += 1;      // may carry into the exponent: still correct
  return sign | h;
}
function fromHalf(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function ioType(session, name, which) {
  // onnxruntime-common ≥ 1.22 describes inputs/outputs; older versions: assume float32.
  const meta = session[which === 'input' ? 'inputMetadata' : 'outputMetadata'];
  if (!meta) return 'float32';
  const m = Array.isArray(meta) ? meta.find((x) => x.name === name) : meta[name];
  return (m && m.isTensor !== false && m.type) || 'float32';
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length === 1 && args[0] === '--version') {
    const ort = loadOrt();
    process.stdout.write(`${ort.env.versions ? ort.env.versions.node || ort.env.versions.common : 'unknown'}\n`);
    return;
  }
  if (args.length !== 4) fail('usage: ort_run.js MODEL.onnx INPUT.bin NxCxHxW OUTPUT.bin | --version');
  const [model, inputPath, shapeArg, outputPath] = args;
  const dims = shapeArg.split('x').map(Number);
  if (!dims.length || dims.some((d) => !Number.isInteger(d) || d < 0)) fail(`bad shape '${shapeArg}'`);
  const count = dims.reduce((a, b) => a * b, 1);
  const buf = fs.readFileSync(inputPath);
  if (buf.length !== 4 * count) fail(`${inputPath} has ${buf.length} bytes, shape ${shapeArg} needs ${4 * count}`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; ++i) data[i] = buf.readFloatLE(4 * i);

  const ort = loadOrt();
  let session;
  try {
    session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  } catch (e) {
    fail(`cannot load ${model}: ${e.message}`);
  }
  const inName = session.inputNames[0];
  const inType = ioType(session, inName, 'input');
  let tensor;
  if (inType === 'float16') {
    const h = new Uint16Array(count);
    for (let i = 0; i < count; ++i) h[i] = toHalf(data[i]);
    tensor = new ort.Tensor('float16', h, dims);
  } else if (inType === 'float32') {
    tensor = new ort.Tensor('float32', data, dims);
  } else {
    fail(`${model}: input '${inName}' has type ${inType}; only float32/float16 inputs are supported`);
  }
  let results;
  try {
    results = await session.run({ [inName]: tensor });
  } catch (e) {
    fail(`running ${model} on ${shapeArg}: ${e.message}`);
  }
  const outputs = session.outputNames.map((outName, k) => {
    const out = results[outName];
    let values;
    if (out.type === 'float32') values = out.data;
    else if (out.type === 'float16') values = Float32Array.from(out.data, fromHalf);
    else fail(`${model}: output '${outName}' has type ${out.type}; only float32/float16 outputs are supported`);
    const bytes = Buffer.alloc(4 * values.length);
    for (let i = 0; i < values.length; ++i) bytes.writeFloatLE(values[i], 4 * i);
    const file = k === 0 ? outputPath : `${outputPath}.${k}`;
    fs.writeFileSync(file, bytes);
    return { name: outName, dims: out.dims, type: out.type, file };
  });
  const first = outputs[0];
  process.stdout.write(JSON.stringify({ name: first.name, dims: first.dims, type: first.type, outputs }) + '\n');
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
