import type { PruningPlan } from '../../core/plan';
import type { ModelFormatName } from '../types';
import type { SweepReport } from '../../worker/protocol';

/** A node of a TF.js GraphModel's GraphDef, as model.json stores it. */
export interface GraphDefNode {
  name: string;
  op: string;
  input?: readonly string[];
}

/** One prunable unit (DESIGN §6 names), in model order. */
export interface EcosystemUnit {
  name: string;
  /** Number of weights in the unit's kernel. */
  size: number;
  /** The Keras layer that holds it (LayersModels), when it differs from `name`. */
  layer?: string;
}

/** The parts of a plan that the exports describe. */
export type EcosystemPlan = Pick<PruningPlan, 'criterion' | 'granularity' | 'sparsity' | 'removed' | 'seed'>;

/** The parts of a sensitivity sweep that the exports read. */
export type EcosystemSweep = Pick<SweepReport, 'criterion' | 'granularity' | 'metric' | 'sparsities' | 'layers' | 'values' | 'dense' | 'delta'>;

export interface EcosystemInput {
  format: ModelFormatName;
  modelName: string;
  units: readonly EcosystemUnit[];
  plan: EcosystemPlan;
  sweep?: EcosystemSweep;
  /** The sweep column shown in the sensitivity overlay; the column nearest to it is used (default 0.5). */
  sensitivityAt?: number;
  /** Unit → Model Explorer node id or tensor name, replacing the default key of that unit. */
  nodeIds?: Readonly<Record<string, string>>;
  /** A GraphModel's `modelTopology.node`: its units are keyed by the op that consumes them. */
  graphNodes?: readonly GraphDefNode[];
}

/** A text file for another tool, before encoding. */
export interface EcosystemText {
  path: string;
  text: string;
}

/** What one format produced: its files (possibly none) and why a file is missing or differs from the plan. */
export interface EcosystemPart {
  files: EcosystemText[];
  notes: string[];
}
