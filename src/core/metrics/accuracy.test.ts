import { describe, expect, it } from 'vitest';
import { accuracy, argMaxRows, classCounts, MAX_CONFUSION_CLASSES } from './accuracy';

describe('accuracy', () => {
  it('compares each row arg-max with its label', () => {
    const outputs = new Float32Array([0.1, 0.7, 0.2, 0.5, 0.3, 0.2, 0.3, 0.3, 0.4, 0.4, 0.4, 0.2]);
    // rows → 1, 0, 2, 0 (a tie goes to the first index)
    expect(Array.from(argMaxRows(outputs, 3))).toEqual([1, 0, 2, 0]);
    expect(accuracy(outputs, new Int32Array([1, 0, 0, 1]), 3)).toBe(0.5);
    expect(accuracy(outputs, [1, 0, 2, 0], 3)).toBe(1);
  });

  it('gives the same answer on logits and rejects mismatched sizes', () => {
    expect(accuracy(new Float32Array([-3, 2, 5, -1]), [1, 0], 2)).toBe(1);
    expect(() => accuracy(new Float32Array(5), [0, 0], 2)).toThrow(/do not split into rows of 2/);
    expect(() => accuracy(new Float32Array(4), [0], 2)).toThrow(/2 output rows but 1 labels/);
  });
});

describe('classCounts', () => {
  it('counts correct and total per true class and the confusion matrix, by hand', () => {
    // arg-max per row → 1, 0, 2, 0 (a tie goes to the first index), 2
    const outputs = new Float32Array([0.1, 0.7, 0.2, 0.5, 0.3, 0.2, 0.3, 0.3, 0.4, 0.4, 0.4, 0.2, 0, 0, 1]);
    const labels = [1, 0, 0, 1, 2];
    const counts = classCounts(outputs, labels, 3);
    expect(counts.total).toEqual([2, 2, 1]);
    expect(counts.correct).toEqual([1, 1, 1]);
    expect(counts.confusion).toEqual([
      [1, 0, 1],
      [1, 1, 0],
      [0, 0, 1],
    ]);
    const correct = counts.correct.reduce((a, b) => a + b, 0);
    expect(correct / labels.length).toBe(accuracy(outputs, labels, 3));
  });

  it('skips labels outside the classes, leaves out the matrix for many classes, rejects mismatched sizes', () => {
    expect(classCounts(new Float32Array([1, 0, 0, 1]), [0, 7], 2)).toEqual({
      total: [1, 0],
      correct: [1, 0],
      confusion: [
        [1, 0],
        [0, 0],
      ],
    });
    const classes = MAX_CONFUSION_CLASSES + 1;
    const many = classCounts(new Float32Array(classes), [3], classes);
    expect(many.confusion).toBeUndefined();
    expect(many.total[3]).toBe(1);
    expect(many.correct[0]).toBe(0);
    expect(() => classCounts(new Float32Array(4), [0], 2)).toThrow(/2 output rows but 1 labels/);
  });
});
