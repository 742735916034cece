import { describe, expect, it } from 'vitest';
import type { ModelSummary } from '../worker/protocol';
import { candidatesIn, defaultCandidateSet, defaultSteps, removalCost } from './removal-actions';

const summary = (removalCandidates: string[], removalKinds?: Record<string, 'branch' | 'layer'>): ModelSummary =>
  ({ removalCandidates, ...(removalKinds && { removalKinds }) }) as ModelSummary;

describe('removal search defaults', () => {
  it('searches residual branches where a CNN has them, every candidate where it has none, sublayers for transformers', () => {
    const resnet = summary(['bn1', 'block1_add', 'relu2', 'block2_add'], { bn1: 'layer', block1_add: 'branch', relu2: 'layer', block2_add: 'branch' });
    expect(defaultCandidateSet(resnet)).toBe('branches');
    expect(candidatesIn(resnet, 'branches')).toEqual(['block1_add', 'block2_add']);
    expect(candidatesIn(resnet, 'layers')).toEqual(['bn1', 'relu2']);
    expect(candidatesIn(resnet, 'all')).toHaveLength(4);
    const plain = summary(['pool1', 'dropout'], { pool1: 'layer', dropout: 'layer' });
    expect(defaultCandidateSet(plain)).toBe('all');
    const lm = summary(['model.layers.0.self_attn', 'model.layers.0.mlp']);
    expect(defaultCandidateSet(lm)).toBe('all');
    expect(candidatesIn(lm, 'branches')).toEqual(lm.removalCandidates);
  });

  it('takes every step on small models and a quarter (at least 16) on large ones', () => {
    expect(defaultSteps(8)).toBe(8);
    expect(defaultSteps(16)).toBe(16);
    expect(defaultSteps(40)).toBe(16);
    expect(defaultSteps(110)).toBe(28);
  });

  it('estimates the forward passes of a greedy search and their time at the measured latency', () => {
    expect(removalCost(10, 3, undefined)).toEqual({ evaluations: 10 + 9 + 8 });
    expect(removalCost(10, 10, 20)).toEqual({ evaluations: 55, seconds: 1.1 });
  });
});
