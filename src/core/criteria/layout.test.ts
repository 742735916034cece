import { describe, expect, it } from 'vitest';
import { kernelToMatrix, matrixToKernel, unitLayout, type UnitLayout } from './layout';

describe('unitLayout', () => {
  it('maps Dense, Conv, Depthwise and Separable kernels', () => {
    expect(unitLayout('Dense', 'd', [3, 2])).toEqual({ kind: 'dense', rows: 2, cols: 3 });
    expect(unitLayout('Conv2D', 'c', [3, 3, 4, 8])).toEqual({ kind: 'conv', rows: 8, cols: 36 });
    expect(unitLayout('DepthwiseConv2D', 'dw', [3, 3, 4, 2])).toEqual({ kind: 'depthwise', rows: 8, cols: 9, channels: 4 });
    expect(unitLayout('SeparableConv2D', 's/pointwise', [1, 1, 4, 6])).toEqual({ kind: 'conv', rows: 6, cols: 4 });
    expect(unitLayout('SeparableConv2D', 's/depthwise', [3, 3, 4, 1])).toMatchObject({ kind: 'depthwise', rows: 4, cols: 9 });
    expect(unitLayout('Conv2DTranspose', 't', [3, 3, 4, 8])).toMatch(/not supported/);
  });
});

describe('kernelToMatrix', () => {
  it('turns a Dense [in, out] kernel into W[out][in] and back', () => {
    const layout = unitLayout('Dense', 'd', [3, 2]) as UnitLayout;
    // kernel[i][o]: [[1, 2], [3, 4], [5, 6]] → W = [[1, 3, 5], [2, 4, 6]]
    const kernel = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const w = kernelToMatrix(layout, kernel);
    expect(Array.from(w.values)).toEqual([1, 3, 5, 2, 4, 6]);
    expect(Array.from(matrixToKernel(layout, w.values))).toEqual(Array.from(kernel));
  });

  it('puts a conv output filter on one row in (ky, kx, in) order', () => {
    const layout = unitLayout('Conv2D', 'c', [1, 2, 2, 2]) as UnitLayout;
    // kernel[ky=0][kx][c][o] = 10·kx + c + 100·o
    const kernel = new Float32Array(8);
    for (let kx = 0; kx < 2; kx++) for (let c = 0; c < 2; c++) for (let o = 0; o < 2; o++) kernel[(kx * 2 + c) * 2 + o] = 10 * kx + c + 100 * o;
    const w = kernelToMatrix(layout, kernel);
    expect(Array.from(w.values)).toEqual([0, 1, 10, 11, 100, 101, 110, 111]);
    const mask = Uint8Array.from([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(Array.from(kernelToMatrix(layout, Float32Array.from(matrixToKernel(layout, mask))).values)).toEqual(Array.from(mask));
  });
});
