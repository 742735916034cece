import type { ClassCounts } from '../types';
import { rowCount } from './rows';

/** Accuracy of each class (correct / total), null for a class without samples: what the page and `lopper eval` show. */
export function classAccuracy(counts: ClassCounts): (number | null)[] {
  return counts.total.map((total, c) => (total === 0 ? null : counts.correct[c] / total));
}

/** Index of the largest value of each row; the first one on ties. */
export function argMaxRows(outputs: Float32Array, classes: number): Int32Array {
  const rows = rowCount(outputs, classes);
  const result = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let j = 1; j < classes; j++) {
      if (outputs[i * classes + j] > outputs[i * classes + best]) best = j;
    }
    result[i] = best;
  }
  return result;
}

/** Share of rows whose arg-max is the label (works the same on probabilities and logits). */
export function accuracy(outputs: Float32Array, labels: ArrayLike<number>, classes: number): number {
  const predicted = argMaxRows(outputs, classes);
  if (labels.length !== predicted.length) {
    throw new Error(`accuracy: ${predicted.length} output rows but ${labels.length} labels`);
  }
  if (predicted.length === 0) return NaN;
  let correct = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / predicted.length;
}

/** The most classes a confusion matrix is counted for (its size grows with the square). */
export const MAX_CONFUSION_CLASSES = 100;

/**
 * Correct and total samples per true class and, up to `MAX_CONFUSION_CLASSES` classes, the
 * confusion matrix (`confusion[label][predicted]`). Labels outside [0, classes) count in no class.
 */
export function classCounts(outputs: Float32Array, labels: ArrayLike<number>, classes: number): ClassCounts {
  const predicted = argMaxRows(outputs, classes);
  if (labels.length !== predicted.length) {
    throw new Error(`classCounts: ${predicted.length} output rows but ${labels.length} labels`);
  }
  const total = new Array<number>(classes).fill(0);
  const correct = new Array<number>(classes).fill(0);
  const confusion = classes <= MAX_CONFUSION_CLASSES ? Array.from({ length: classes }, () => new Array<number>(classes).fill(0)) : undefined;
  for (let i = 0; i < predicted.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= classes) continue;
    total[label]++;
    if (predicted[i] === label) correct[label]++;
    if (confusion) confusion[label][predicted[i]]++;
  }
  return confusion ? { total, correct, confusion } : { total, correct };
}
