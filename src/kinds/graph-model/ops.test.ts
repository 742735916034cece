import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphKernelToMatrix, graphMatrixToKernel, einsumPlan, type GraphUnitLayout } from './layout';
import { openModel } from '../../io/open';
import { memoryFiles } from '../../io/test-support';
import { GraphModelPrunable } from './prunable';
import { b64, constant, convAttrs, loadExport, openTestGraph, placeholder, seededValues, stringConstantModel, T, type TestNode, type TestWeight } from './testing';

let start = 0;
beforeAll(async () => {
  await tf.setBackend('cpu');
  start = tf.memory().numTensors;
});
afterAll(() => {
  expect(tf.memory().numTensors).toBe(start);
});

/**
 * Opens a one-op graph `y = op(x, w)`, runs it on `input`, and checks for its unit that
 * X (inputRows of what the op saw) times Wᵀ (the layout read from the stored kernel) is the op's output,
 * as `outputRows` arranges it. Returns the layout.
 */
async function checkUnit(nodes: TestNode[], weights: TestWeight[], input: tf.Tensor, outputRows: (y: tf.Tensor) => tf.Tensor2D): Promise<GraphUnitLayout> {
  const opened = await openTestGraph(nodes, weights);
  const kind = await GraphModelPrunable.create(opened);
  try {
    const [unit] = kind.units();
    const layout = kind.layout(unit.name);
    if (typeof layout === 'string') throw new Error(layout);
    let product: number[][] = [];
    const y = kind.forward(input, {
      onUnitInput: (name, tensor) => {
        const kernel = kind.getKernel(name);
        const w = tf.tensor2d(graphKernelToMatrix(layout, kernel.dataSync() as Float32Array), [layout.rows, layout.cols]);
        const x = kind.inputRows(name, tensor);
        product = tf.tidy(() => (tf.matMul(x, w, false, true) as tf.Tensor2D).arraySync());
        tf.dispose([w, x, kernel]);
      },
    });
    const direct = tf.tidy(() => outputRows(y.reshape(kindOutputShape(kind))).arraySync());
    y.dispose();
    expect(product.length).toBe(direct.length);
    product.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(direct[i][j], 4)));
    return layout;
  } finally {
    kind.dispose();
    input.dispose();
  }
}

/** The output as rows of its last axis (what `forward` flattened per sample). */
function kindOutputShape(kind: GraphModelPrunable): number[] {
  const shape = kind.probedShape(kind.outputNames()[0]) ?? [];
  return [-1, shape[shape.length - 1] ?? 1];
}

const rowsOf = (y: tf.Tensor): tf.Tensor2D => y.reshape([-1, y.shape[y.shape.length - 1]]) as tf.Tensor2D;

describe('units of every prunable op', () => {
  it('MatMul with the weight on the left (W · x)', async () => {
    const w = { name: 'w', shape: [2, 3], values: seededValues(1, 6) };
    // y = W · xᵀ-ish: x [3, n] as the right operand, y [2, n]; samples are x's columns
    const nodes = [
      placeholder('x', [3, -1]),
      constant('w', [2, 3]),
      { name: 'y', op: 'MatMul', input: ['w', 'x'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
    ];
    const opened = await openTestGraph(nodes, [w]);
    const kind = await GraphModelPrunable.create(opened);
    expect(kind.layout('w')).toEqual({ kind: 'dense', rows: 2, cols: 3, transposed: true });
    const x = tf.tensor2d(seededValues(2, 12), [3, 4]);
    const rows = kind.inputRows('w', x);
    expect(rows.shape).toEqual([4, 3]);
    expect(rows.arraySync()).toEqual(tf.tidy(() => x.transpose().arraySync()));
    tf.dispose([x, rows]);
    kind.dispose();
  });

  it('BatchMatMulV2 with a constant adj_y operand', async () => {
    const layout = await checkUnit(
      [placeholder('x', [-1, 4, 3]), constant('w', [5, 3]), { name: 'y', op: 'BatchMatMulV2', input: ['x', 'w'], attr: { ...T, adj_x: { b: false }, adj_y: { b: true } } }],
      [{ name: 'w', shape: [5, 3], values: seededValues(3, 15) }],
      tf.tensor3d(seededValues(4, 24), [2, 4, 3]),
      rowsOf,
    );
    expect(layout).toEqual({ kind: 'dense', rows: 5, cols: 3, transposed: true });
  });

  it('_FusedMatMul with transpose_a on the data', async () => {
    const layout = await checkUnit(
      [placeholder('x', [3, 2]), constant('w', [3, 4]), { name: 'y', op: 'MatMul', input: ['x', 'w'], attr: { ...T, transpose_a: { b: true }, transpose_b: { b: false } } }],
      [{ name: 'w', shape: [3, 4], values: seededValues(5, 12) }],
      tf.tensor2d(seededValues(6, 6), [3, 2]),
      rowsOf,
    );
    expect(layout).toEqual({ kind: 'dense', rows: 4, cols: 3 });
  });

  it('Einsum projections, weight stored [in, out] and [out, in]', async () => {
    for (const [equation, shape, transposed] of [
      ['bij,jk->bik', [3, 5], false],
      ['bij,kj->bik', [5, 3], true],
    ] as const) {
      const layout = await checkUnit(
        [placeholder('x', [-1, 2, 3]), constant('w', [...shape]), { name: 'y', op: 'Einsum', input: ['x', 'w'], attr: { ...T, equation: { s: b64(equation) }, N: { i: '2' } } }],
        [{ name: 'w', shape: [...shape], values: seededValues(7, 15) }],
        tf.tensor3d(seededValues(8, 12), [2, 2, 3]),
        rowsOf,
      );
      expect(layout).toEqual({ kind: 'dense', rows: 5, cols: 3, ...(transposed && { transposed: true }) });
    }
    expect(einsumPlan('bij,bjk->bik', 1)).toMatch(/batch axis/);
    expect(einsumPlan('...ij,jk->...ik', 1)).toMatch(/without ellipses/);
    expect(einsumPlan('bij,jkl->bikl', 1)).toEqual({ data: 'bij', contracted: 'j', outputs: 'kl', transposed: false });
  });

  it('Conv2D with explicit padding and stride 2: im2col patches in (kh, kw, in) order', async () => {
    const layout = await checkUnit(
      [
        placeholder('x', [-1, 5, 5, 2]),
        constant('w', [3, 3, 2, 3]),
        { name: 'y', op: 'Conv2D', input: ['x', 'w'], attr: convAttrs([1, 2, 2, 1], 'EXPLICIT', { explicit_paddings: { list: { i: ['0', '0', '1', '0', '0', '2', '0', '0'] } } }) },
      ],
      [{ name: 'w', shape: [3, 3, 2, 3], values: seededValues(9, 54) }],
      tf.tensor4d(seededValues(10, 100), [2, 5, 5, 2]),
      rowsOf,
    );
    expect(layout).toEqual({ kind: 'conv', rows: 3, cols: 18 });
  });

  it('FusedDepthwiseConv2dNative with a channel multiplier', async () => {
    const nodes = [
      placeholder('x', [-1, 4, 4, 2]),
      constant('w', [3, 3, 2, 2]),
      constant('b', [4]),
      {
        name: 'y',
        op: 'FusedDepthwiseConv2dNative',
        input: ['x', 'w', 'b'],
        attr: convAttrs([1, 1, 1, 1], 'SAME', { fused_ops: { list: { s: [b64('BiasAdd')] } }, num_args: { i: '1' } }),
      },
    ];
    const opened = await openTestGraph(nodes, [
      { name: 'w', shape: [3, 3, 2, 2], values: seededValues(11, 36) },
      { name: 'b', shape: [4], values: [0, 0, 0, 0] },
    ]);
    const kind = await GraphModelPrunable.create(opened);
    const layout = kind.layout('w') as GraphUnitLayout;
    expect(layout).toEqual({ kind: 'depthwise', rows: 4, cols: 9, channels: 2 });
    const input = tf.tensor4d(seededValues(12, 64), [2, 4, 4, 2]);
    let check: number[][] = [];
    const y = kind.forward(input, {
      onUnitInput: (name, tensor) => {
        const x = kind.inputRows(name, tensor);
        expect(x.shape).toEqual([32, 2 * 9]);
        const kernel = kind.getKernel(name);
        const w = graphKernelToMatrix(layout, kernel.dataSync() as Float32Array);
        kernel.dispose();
        // row r = c·m + j sees channel c = ⌊r / m⌋
        check = x
          .arraySync()
          .map((row) => Array.from({ length: 4 }, (_, r) => Array.from({ length: 9 }, (_, t) => row[Math.floor(r / 2) * 9 + t] * w[r * 9 + t]).reduce((a, b) => a + b, 0)));
        x.dispose();
      },
    });
    const direct = tf.tidy(() => (y.reshape([-1, 4]) as tf.Tensor2D).arraySync());
    check.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(direct[i][j], 4)));
    tf.dispose([y, input]);
    kind.dispose();
  });

  it('Conv2DBackpropInput: a dense view of each input pixel onto its output patch', async () => {
    const nodes = [
      placeholder('x', [-1, 3, 3, 2]),
      constant('sizes', [4], 'DT_INT32'),
      constant('w', [2, 2, 4, 2]),
      { name: 'y', op: 'Conv2DBackpropInput', input: ['sizes', 'w', 'x'], attr: convAttrs([1, 2, 2, 1], 'VALID') },
    ];
    const opened = await openTestGraph(nodes, [
      { name: 'sizes', shape: [4], values: [1, 6, 6, 4], dtype: 'int32' },
      { name: 'w', shape: [2, 2, 4, 2], values: seededValues(13, 32) },
    ]);
    const kind = await GraphModelPrunable.create(opened);
    expect(kind.layout('w')).toEqual({ kind: 'dense', rows: 16, cols: 2, transposed: true });
    const input = tf.tensor4d(seededValues(14, 18), [1, 3, 3, 2]);
    let seen: number[] = [];
    const out = kind.forward(input, {
      onUnitInput: (name, tensor) => {
        const x = kind.inputRows(name, tensor);
        seen = x.shape;
        x.dispose();
      },
    });
    expect(seen).toEqual([9, 2]);
    expect(out.shape).toEqual([1, 144]);
    // stride 2 with a 2×2 filter: the patches do not overlap, so output patch = W · pixel
    const layout = kind.layout('w') as GraphUnitLayout;
    const kernel = kind.getKernel('w');
    const w = graphKernelToMatrix(layout, kernel.dataSync() as Float32Array);
    const y = tf.tidy(() => out.reshape([6, 6, 4]).arraySync()) as number[][][];
    const pixel = (input.arraySync() as number[][][][])[0][1][2];
    for (let a = 0; a < 2; a++)
      for (let b = 0; b < 2; b++)
        for (let o = 0; o < 4; o++) {
          const r = (a * 2 + b) * 4 + o;
          expect(y[2 + a][4 + b][o]).toBeCloseTo(w[r * 2] * pixel[0] + w[r * 2 + 1] * pixel[1], 5);
        }
    tf.dispose([out, input, kernel]);
    kind.dispose();
  });

  it('reads W and writes it back for both storage orders', () => {
    const kernel = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const plain: GraphUnitLayout = { kind: 'dense', rows: 3, cols: 2 };
    const transposed: GraphUnitLayout = { kind: 'dense', rows: 2, cols: 3, transposed: true };
    expect([...graphKernelToMatrix(plain, kernel)]).toEqual([1, 4, 2, 5, 3, 6]);
    expect([...graphMatrixToKernel(plain, graphKernelToMatrix(plain, kernel))]).toEqual([...kernel]);
    expect([...graphKernelToMatrix(transposed, kernel)]).toEqual([...kernel]);
    expect([...graphMatrixToKernel(transposed, Uint8Array.from([1, 0, 1, 0, 1, 0]))]).toEqual([1, 0, 1, 0, 1, 0]);
  });
});

describe('inputs', () => {
  it('resolves dynamic dimensions with documented defaults and overrides, and feeds int inputs', async () => {
    const nodes = [
      placeholder('image', [-1, -1, -1, 3]),
      placeholder('ids', [-1, -1], 'DT_INT32'),
      { name: 'cast', op: 'Cast', input: ['ids'], attr: { SrcT: { type: 'DT_INT32' }, DstT: { type: 'DT_FLOAT' } } },
      { name: 'pooled', op: 'Mean', input: ['image', 'axes'], attr: { ...T, keep_dims: { b: false } } },
      constant('axes', [2], 'DT_INT32'),
      { name: 'summed', op: 'Sum', input: ['cast', 'axis'], attr: { ...T, keep_dims: { b: false } } },
      constant('axis', [1], 'DT_INT32'),
    ];
    const opened = await openTestGraph(nodes, [
      { name: 'axes', shape: [2], values: [1, 2], dtype: 'int32' },
      { name: 'axis', shape: [1], values: [1], dtype: 'int32' },
    ]);
    const kind = await GraphModelPrunable.create(opened, { imageSize: 8 });
    expect(kind.inputSpecs()).toEqual([
      {
        name: 'image',
        dtype: 'float32',
        shape: [null, 8, 8, 3],
        fixedBatch: null,
        declared: [-1, -1, -1, 3],
        source: 'default',
        defaulted: 'dim 1 = 8 (image default), dim 2 = 8 (image default)',
      },
      {
        name: 'ids',
        dtype: 'int32',
        shape: [null, 16],
        fixedBatch: null,
        declared: [-1, -1],
        source: 'default',
        defaulted: 'dim 1 = 16 (length default)',
        valueRange: 2,
        valueNote: 'synthetic values are 0 and 1: the model names no range for this int input, so drop a dataset for meaningful ones',
      },
    ]);
    expect(kind.outputNames()).toEqual(['pooled', 'summed']);
    const input = kind.syntheticBatch(2);
    const out = kind.forward(input);
    expect(out.shape).toEqual([2, 4]);
    tf.dispose([input, out]);
    kind.dispose();
    const overridden = await GraphModelPrunable.create(opened, { shapes: { image: [4, 4, 3] } });
    expect(overridden.inputSpecs()[0]).toMatchObject({ shape: [null, 4, 4, 3], source: 'option' });
    overridden.dispose();
  });
});

describe('functional control flow', () => {
  it('runs a StatelessIf whose branches hold their own constants, and exports them', async () => {
    const fn = (name: string, w: string): Record<string, unknown> => ({
      signature: { name, inputArg: [{ name: 'a', type: 'DT_FLOAT' }], outputArg: [{ name: 'out', type: 'DT_FLOAT' }] },
      nodeDef: [constant(w, [2, 2]), { name: 'mm', op: 'MatMul', input: ['a', `${w}:output:0`], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } }],
      ret: { out: 'mm:product:0' },
    });
    const nodes = [
      placeholder('x', [-1, 2]),
      constant('w0', [2, 2]),
      constant('cond', [], 'DT_BOOL'),
      { name: 'h', op: 'MatMul', input: ['x', 'w0'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
      {
        name: 'if',
        op: 'StatelessIf',
        input: ['cond', 'h'],
        attr: { Tcond: { type: 'DT_BOOL' }, then_branch: { func: { name: 'then_fn' } }, else_branch: { func: { name: 'else_fn' } } },
      },
      { name: 'y', op: 'Identity', input: ['if'], attr: T },
    ];
    const bytes = new Uint8Array(16 + 1 + 32);
    bytes.set(new Uint8Array(Float32Array.from([1, 0, 0, 1]).buffer), 0);
    bytes[16] = 1;
    bytes.set(new Uint8Array(Float32Array.from([2, 0, 0, 2, -1, 0, 0, -1]).buffer), 17);
    const modelJson = {
      format: 'graph-model',
      modelTopology: { node: nodes, library: { function: [fn('then_fn', 'w_then'), fn('else_fn', 'w_else')] }, versions: { producer: 1286 } },
      weightsManifest: [
        {
          paths: ['w.bin'],
          weights: [
            { name: 'w0', shape: [2, 2], dtype: 'float32' },
            { name: 'cond', shape: [], dtype: 'bool' },
            { name: 'w_then', shape: [2, 2], dtype: 'float32' },
            { name: 'w_else', shape: [2, 2], dtype: 'float32' },
          ],
        },
      ],
    };
    const kind = await GraphModelPrunable.create(await openModel(memoryFiles({ 'f/model.json': modelJson, 'f/w.bin': bytes })));
    expect(kind.requiresAsync).toBe(true);
    // units live in the main graph only: the branch bodies' MatMuls are not prunable
    expect(kind.units().map((u) => u.name)).toEqual(['w0']);
    kind.setKernel('w0', Float32Array.from([0, 1, 1, 0]));
    const x = tf.tensor2d([[1, 2]]);
    const y = await kind.forwardAsync(x);
    expect([...(await y.data())]).toEqual([4, 2]);
    const stock = await loadExport(await kind.exportFiles());
    const stockY = (await stock.executeAsync({ x })) as tf.Tensor;
    expect([...(await stockY.data())]).toEqual([4, 2]);
    tf.dispose([x, y, stockY]);
    stock.dispose();
    kind.dispose();
  });
});

describe('int inputs', () => {
  const lookup = (through: TestNode[], idsInto: string): TestNode[] => [
    placeholder('ids', [-1, 5], 'DT_INT32'),
    constant('table', [7, 3]),
    constant('axis', [], 'DT_INT32'),
    ...through,
    {
      name: 'emb',
      op: 'GatherV2',
      input: ['table', idsInto, 'axis'],
      attr: { Tparams: { type: 'DT_FLOAT' }, Tindices: { type: 'DT_INT32' }, Taxis: { type: 'DT_INT32' }, batch_dims: { i: '0' } },
    },
    { name: 'mm', op: 'MatMul', input: ['pooled', 'w'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
  ];
  const weights: TestWeight[] = [
    { name: 'table', shape: [7, 3], values: seededValues(31, 21) },
    { name: 'axis', shape: [], values: [0], dtype: 'int32' },
    { name: 'pool/axes', shape: [1], values: [1], dtype: 'int32' },
    { name: 'w', shape: [3, 2], values: seededValues(32, 6) },
  ];
  const tail: TestNode[] = [
    constant('pool/axes', [1], 'DT_INT32'),
    { name: 'pooled', op: 'Mean', input: ['emb', 'pool/axes'], attr: { ...T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } },
    constant('w', [3, 2]),
  ];

  it('get synthetic ids below the rows of the table they index, through an Identity, and run', async () => {
    const opened = await openTestGraph([...lookup([{ name: 'ids_copy', op: 'Identity', input: ['ids'], attr: { T: { type: 'DT_INT32' } } }], 'ids_copy'), ...tail], weights);
    const kind = await GraphModelPrunable.create(opened);
    try {
      expect(kind.inputSpecs()[0]).toMatchObject({ name: 'ids', dtype: 'int32', valueRange: 7 });
      expect(kind.inputSpecs()[0].valueNote).toBe('synthetic ids in [0, 7): the 7 rows of table that GatherV2 emb looks it up in');
      const batch = kind.syntheticBatch(40, 3);
      const ids = [...(await batch.data())];
      expect(Math.max(...ids)).toBe(6);
      expect(Math.min(...ids)).toBe(0);
      const out = kind.forward(batch);
      expect(out.shape).toEqual([40, 2]);
      tf.dispose([batch, out]);
    } finally {
      kind.dispose();
    }
  });

  it('that index nothing Lopper can see get 0 and 1, with a note that a dataset is needed', async () => {
    const nodes: TestNode[] = [
      placeholder('ids', [-1, 5], 'DT_INT32'),
      { name: 'f', op: 'Cast', input: ['ids'], attr: { SrcT: { type: 'DT_INT32' }, DstT: { type: 'DT_FLOAT' } } },
      constant('w', [5, 2]),
      { name: 'mm', op: 'MatMul', input: ['f', 'w'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
    ];
    const kind = await GraphModelPrunable.create(await openTestGraph(nodes, [{ name: 'w', shape: [5, 2], values: seededValues(33, 10) }]));
    try {
      expect(kind.inputSpecs()[0]).toMatchObject({ valueRange: 2 });
      expect(kind.inputSpecs()[0].valueNote).toMatch(/the model names no range for this int input, so drop a dataset/);
    } finally {
      kind.dispose();
    }
  });
});

describe('string and complex64 constants', () => {
  const stringModel = (truncate = 0): ReturnType<typeof memoryFiles> => {
    const { modelJson, bin } = stringConstantModel();
    return memoryFiles({ 's/model.json': modelJson, 's/w.bin': bin.slice(0, bin.byteLength - truncate) });
  };

  it('open, run, prune and export with the strings and complex values as they were; stock tfjs loads the export', async () => {
    const opened = await openModel(stringModel());
    const kind = await GraphModelPrunable.create(opened);
    try {
      expect(kind.units().map((u) => u.name)).toEqual(['w']);
      expect(kind.totals().totalParams).toBe(4);
      kind.setKernel('w', Float32Array.from([0, 2, 3, 0]));
      const files = await kind.exportFiles();
      const stock = await loadExport(files);
      const vocab = stock.weights['vocab'][0];
      expect(vocab.dtype).toBe('string');
      expect(await vocab.array()).toEqual(['whale', 'ship', 'Ahab']);
      const phase = stock.weights['phase'][0];
      expect(phase.dtype).toBe('complex64');
      const real = tf.real(phase);
      expect([...(await real.data())]).toEqual([1, 0.5]);
      const x = tf.tensor2d([[1, 1]]);
      const y = stock.execute({ x }, 'y') as tf.Tensor;
      expect([...(await y.data())]).toEqual([3, 2]);
      tf.dispose([x, y, real]);
      stock.dispose();
      // The written shard reopens through Lopper's reader to the same bytes.
      const again = await openModel(memoryFiles(Object.fromEntries(files.map((f) => [`again/${f.path}`, f.bytes]))));
      expect(again.artifacts.weightSpecs?.map((spec) => spec.dtype)).toEqual(['float32', 'string', 'complex64']);
    } finally {
      kind.dispose();
    }
  });

  it('a string weight cut short is refused naming model.json', async () => {
    await expect(openModel(stringModel(2))).rejects.toThrow(/s\/model\.json/);
  });
});
