/** Token windows of equal length, split into batches of at most `perBatch` windows as flat int32 rows. */
export interface WindowBatch {
  ids: Int32Array;
  shape: [number, number];
}

/** Logits values one forward pass may produce before a batch is split (as for perplexity). */
export const LOGITS_PER_BATCH = 4_000_000;

export function windowBatches(windows: readonly (readonly number[])[], vocabSize: number, batchSize?: number): WindowBatch[] {
  if (windows.length === 0) throw new Error('calibration needs at least one token window');
  const length = windows[0].length;
  const uneven = windows.findIndex((w) => w.length !== length);
  if (uneven >= 0) throw new Error(`calibration windows must have equal lengths: window 0 has ${length} tokens, window ${uneven} has ${windows[uneven].length}`);
  if (length < 1) throw new Error('calibration windows must hold at least one token');
  const perBatch = batchSize ?? Math.max(1, Math.floor(LOGITS_PER_BATCH / (length * vocabSize)));
  if (!Number.isInteger(perBatch) || perBatch < 1) throw new Error(`batch size must be a positive integer, received ${perBatch}`);
  const batches: WindowBatch[] = [];
  for (let start = 0; start < windows.length; start += perBatch) {
    const rows = windows.slice(start, start + perBatch);
    const ids = new Int32Array(rows.length * length);
    rows.forEach((row, r) => ids.set(row, r * length));
    batches.push({ ids, shape: [rows.length, length] });
  }
  return batches;
}
