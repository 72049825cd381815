'use strict';
// Builds, in memory, the ONNX model onnxruntime-node runs in the layer benchmark: the same layer as ours,
// MatMul + Add projections around com.microsoft.MultiHeadAttention, with our layer's weights. A minimal protobuf
// writer (the few ModelProto fields this graph needs) keeps the bench free of a protobuf dependency.

// Protobuf wire format: varints, and length-delimited fields for strings, bytes and nested messages.
function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const int = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const bytes = (field, buf) => Buffer.concat([key(field, 2), varint(buf.length), buf]);
const str = (field, s) => bytes(field, Buffer.from(s, 'utf8'));
const msg = (field, ...parts) => bytes(field, Buffer.concat(parts));

const FLOAT = 1;
const ATTRIBUTE_INT = 2;

function tensor(field, name, dims, data) {
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return msg(field, ...dims.map((d) => int(1, d)), int(2, FLOAT), str(8, name), bytes(9, raw));
}

function valueInfo(field, name, dims) {
  const shape = dims.map((d) => (typeof d === 'number' ? msg(1, int(1, d)) : msg(1, str(2, d))));
  return msg(field, str(1, name), msg(2, msg(1, int(1, FLOAT), msg(2, ...shape))));
}

function node(opType, inputs, outputs, { domain, attributes = [] } = {}) {
  return msg(
    1,
    ...inputs.map((i) => str(1, i)),
    ...outputs.map((o) => str(2, o)),
    str(3, `${opType}_${outputs[0]}`),
    str(4, opType),
    ...attributes.map(([name, value]) => msg(5, str(1, name), int(3, value), int(20, ATTRIBUTE_INT))),
    ...(domain ? [str(7, domain)] : []),
  );
}

/**
 * The model for a layer of `numHeads` heads over embedDim features, self-attention (one input) or cross-attention
 * (`query` and `memory` inputs), weights in our (Keras) layout: kernels [in, out], which is what MatMul wants.
 */
function attentionModel({ numHeads, embedDim, cross }, weights) {
  const E = embedDim;
  const flat = (name) => weights[name].data;
  const initializers = [
    tensor(5, 'Wq', [E, E], flat('query.kernel')),
    tensor(5, 'bq', [E], flat('query.bias')),
    tensor(5, 'Wk', [E, E], flat('key.kernel')),
    tensor(5, 'bk', [E], flat('key.bias')),
    tensor(5, 'Wv', [E, E], flat('value.kernel')),
    tensor(5, 'bv', [E], flat('value.bias')),
    tensor(5, 'Wo', [E, E], flat('output.kernel')),
    tensor(5, 'bo', [E], flat('output.bias')),
  ];
  const source = cross ? 'memory' : 'query';
  const nodes = [
    node('MatMul', ['query', 'Wq'], ['q0']),
    node('Add', ['q0', 'bq'], ['q']),
    node('MatMul', [source, 'Wk'], ['k0']),
    node('Add', ['k0', 'bk'], ['k']),
    node('MatMul', [source, 'Wv'], ['v0']),
    node('Add', ['v0', 'bv'], ['v']),
    node('MultiHeadAttention', ['q', 'k', 'v'], ['attn'],
      { domain: 'com.microsoft', attributes: [['num_heads', numHeads]] }),
    node('MatMul', ['attn', 'Wo'], ['o0']),
    node('Add', ['o0', 'bo'], ['output']),
  ];
  const inputs = [valueInfo(11, 'query', ['B', 'T', E])];
  if (cross) inputs.push(valueInfo(11, 'memory', ['B', 'S', E]));
  const output = valueInfo(12, 'output', ['B', 'T', E]);
  const graph = msg(7, ...nodes, str(2, 'fastmha_bench'), ...initializers, ...inputs, output);
  return Buffer.concat([
    int(1, 8), // ir_version
    str(2, 'fastmha-bench'),
    msg(8, str(1, ''), int(2, 17)),
    msg(8, str(1, 'com.microsoft'), int(2, 1)),
    graph,
  ]);
}

module.exports = { attentionModel };
