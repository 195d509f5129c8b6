/**
 * A linear-logistic ONNX model written byte by byte (the ONNX protobuf
 * schema, onnx.proto3, by field number): score = sigmoid(x . w + b) over a
 * [batch, k] float input "x", output "y" [batch, 1]. Weights of 0 make a
 * model that reads a column and does not depend on it: the fixture drift
 * impact needs, run by the real onnxruntime like any registered model.
 */
const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = n;
  while (v > 127) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const bytes = (field: number, payload: number[] | Uint8Array): number[] => [...varint((field << 3) | 2), ...varint(payload.length), ...payload];
const text = (field: number, s: string) => bytes(field, new TextEncoder().encode(s));
const int = (field: number, n: number) => [...varint(field << 3), ...varint(n)];

const FLOAT = 1;
const dim = (d: number | string) => bytes(1, typeof d === 'number' ? int(1, d) : text(2, d));
const valueInfo = (name: string, dims: (number | string)[]) =>
  [...text(1, name), ...bytes(2, bytes(1, [...int(1, FLOAT), ...bytes(2, dims.flatMap(dim))]))];
const tensor = (name: string, dims: number[], values: number[]) => {
  const raw = new Uint8Array(new Float32Array(values).buffer);
  return [...dims.flatMap((d) => int(1, d)), ...int(2, FLOAT), ...text(8, name), ...bytes(9, raw)];
};
const node = (op: string, inputs: string[], output: string) => [...inputs.flatMap((i) => text(1, i)), ...text(2, output), ...text(4, op)];

/** The ONNX bytes of y = sigmoid(x . weights + bias). */
export function logisticModel(weights: number[], bias = 0): Uint8Array {
  const graph = [
    ...bytes(1, node('MatMul', ['x', 'w'], 'z0')),
    ...bytes(1, node('Add', ['z0', 'b'], 'z')),
    ...bytes(1, node('Sigmoid', ['z'], 'y')),
    ...text(2, 'logistic'),
    ...bytes(5, tensor('w', [weights.length, 1], weights)),
    ...bytes(5, tensor('b', [1], [bias])),
    ...bytes(11, valueInfo('x', ['batch', weights.length])),
    ...bytes(12, valueInfo('y', ['batch', 1])),
  ];
  return new Uint8Array([...int(1, 8), ...text(2, 'driftwatch-test'), ...bytes(7, graph), ...bytes(8, [...text(1, ''), ...int(2, 15)])]);
}

export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
