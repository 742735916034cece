import { describe, expect, it } from 'vitest';
import { GRANULARITIES } from '../../core/criteria/types';
import { speedNote } from './notes';

describe('speedNote', () => {
  it('says zeros do not run faster and points to the structural options', () => {
    for (const format of ['layers-model', 'graph-model', 'hf-transformer'] as const) {
      for (const granularity of ['unstructured', '2:4', '4:8'] as const) {
        const note = speedNote(granularity, format);
        expect(note.faster).toBe(false);
        expect(note.text).toMatch(/not run faster/);
        expect(note.text).toMatch(format === 'hf-transformer' ? /vLLM.*remove sublayers/ : /TF\.js.*prune channels or remove layers/);
      }
    }
  });

  it('has a note for every granularity and for removal', () => {
    for (const choice of [...GRANULARITIES, 'removal' as const]) {
      expect(speedNote(choice, 'graph-model').text.length).toBeGreaterThan(0);
      expect(speedNote(choice, 'hf-transformer').text.length).toBeGreaterThan(0);
    }
    expect(speedNote('channels', 'layers-model').faster).toBe(true);
    expect(speedNote('removal', 'graph-model').faster).toBe(true);
    expect(speedNote('channels', 'hf-transformer').faster).toBe(false);
  });
});
