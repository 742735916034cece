/**
 * Plain-loop references for the graph-model tests: NHWC images as flat arrays, TF's SAME/VALID
 * padding rules, no tfjs involved.
 */

export interface Image {
  n: number;
  h: number;
  w: number;
  c: number;
  data: number[];
}

export const at = (x: Image, n: number, i: number, j: number, c: number): number => x.data[((n * x.h + i) * x.w + j) * x.c + c];

function padding(size: number, kernel: number, stride: number, pad: 'SAME' | 'VALID'): { out: number; before: number } {
  if (pad === 'VALID') return { out: Math.floor((size - kernel) / stride) + 1, before: 0 };
  const out = Math.ceil(size / stride);
  return { out, before: Math.floor(Math.max((out - 1) * stride + kernel - size, 0) / 2) };
}

/** Conv2D with a filter [kh, kw, in, out]. */
export function conv2d(x: Image, filter: number[], shape: number[], stride: number, pad: 'SAME' | 'VALID'): Image {
  const [kh, kw, inC, outC] = shape;
  const rows = padding(x.h, kh, stride, pad);
  const cols = padding(x.w, kw, stride, pad);
  const data: number[] = [];
  for (let n = 0; n < x.n; n++)
    for (let i = 0; i < rows.out; i++)
      for (let j = 0; j < cols.out; j++)
        for (let o = 0; o < outC; o++) {
          let sum = 0;
          for (let a = 0; a < kh; a++)
            for (let b = 0; b < kw; b++) {
              const y = i * stride + a - rows.before;
              const z = j * stride + b - cols.before;
              if (y < 0 || y >= x.h || z < 0 || z >= x.w) continue;
              for (let c = 0; c < inC; c++) sum += at(x, n, y, z, c) * filter[((a * kw + b) * inC + c) * outC + o];
            }
          data.push(sum);
        }
  return { n: x.n, h: rows.out, w: cols.out, c: outC, data };
}

/** DepthwiseConv2dNative with a filter [kh, kw, in, 1], stride 1, SAME. */
export function depthwise(x: Image, filter: number[], shape: number[]): Image {
  const [kh, kw] = shape;
  const rows = padding(x.h, kh, 1, 'SAME');
  const cols = padding(x.w, kw, 1, 'SAME');
  const data: number[] = [];
  for (let n = 0; n < x.n; n++)
    for (let i = 0; i < x.h; i++)
      for (let j = 0; j < x.w; j++)
        for (let c = 0; c < x.c; c++) {
          let sum = 0;
          for (let a = 0; a < kh; a++)
            for (let b = 0; b < kw; b++) {
              const y = i + a - rows.before;
              const z = j + b - cols.before;
              if (y >= 0 && y < x.h && z >= 0 && z < x.w) sum += at(x, n, y, z, c) * filter[(a * kw + b) * x.c + c];
            }
          data.push(sum);
        }
  return { ...x, data };
}

export const map = (x: Image, f: (v: number, c: number) => number): Image => ({ ...x, data: x.data.map((v, i) => f(v, i % x.c)) });
export const add = (x: Image, y: Image): Image => ({ ...x, data: x.data.map((v, i) => v + y.data[i]) });

/** rows [n, k] · Wᵀ for W [out, k] (MatMul with transpose_b). */
export function matmulTransposed(rows: number[][], w: number[], out: number): number[][] {
  return rows.map((row) => Array.from({ length: out }, (_, o) => row.reduce((sum, v, k) => sum + v * w[o * row.length + k], 0)));
}

/** rows [n, k] · W for W [k, out]. */
export function matmul(rows: number[][], w: number[], out: number): number[][] {
  return rows.map((row) => Array.from({ length: out }, (_, o) => row.reduce((sum, v, k) => sum + v * w[k * out + o], 0)));
}

export function softmax(row: number[]): number[] {
  const max = Math.max(...row);
  const e = row.map((v) => Math.exp(v - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** Per sample: the image flattened in NHWC order. */
export const samples = (x: Image): number[][] => Array.from({ length: x.n }, (_, n) => x.data.slice(n * x.h * x.w * x.c, (n + 1) * x.h * x.w * x.c));

/** Mean over height and width: [n, c]. */
export function spatialMean(x: Image): number[][] {
  return Array.from({ length: x.n }, (_, n) =>
    Array.from({ length: x.c }, (_, c) => {
      let sum = 0;
      for (let i = 0; i < x.h; i++) for (let j = 0; j < x.w; j++) sum += at(x, n, i, j, c);
      return sum / (x.h * x.w);
    }),
  );
}

/** The graph-cnn fixture, as scripts/make-graph-fixtures.ts describes it: per sample `[...scores(5), ...features(4)]`, plus intermediates. */
export function graphCnnReference(x: Image, weights: Record<string, number[]>, bypassRes = false) {
  const w = (name: string): number[] => {
    const values = weights[name];
    if (values === undefined) throw new Error(`no weight ${name}`);
    return values;
  };
  const conv1 = conv2d(x, w('conv1/filter'), [3, 3, 2, 4], 1, 'SAME');
  const conv2Linear = conv2d(conv1, w('conv2/filter'), [3, 3, 4, 4], 1, 'SAME');
  const conv2 = map(conv2Linear, (v, c) => Math.max(0, v + w('conv2/bias')[c]));
  const dw = depthwise(conv2, w('dw/filter'), [3, 3, 4, 1]);
  const res = bypassRes ? conv2 : add(conv2, dw);
  const conv3 = conv2d(res, w('conv3/filter'), [3, 3, 4, 3], 2, 'VALID');
  const fc = matmulTransposed(samples(conv3), w('fc/weights'), 5);
  const scores = fc.map(softmax);
  const features = spatialMean(res);
  return { conv1, conv2Linear, conv2, dw, res, conv3, fc, output: scores.map((row, n) => [...row, ...features[n]]) };
}
