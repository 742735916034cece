import { distillerSensitivityCsv } from './distiller-csv';
import { llmCompressorRecipe } from './llm-compressor';
import { modelExplorerNodeData } from './model-explorer';
import type { EcosystemInput } from './types';

/**
 * Files for the tools around Lopper (DESIGN §6 "Exports for other tools"), tfjs-free: an
 * llm-compressor recipe for transformer plans, Model Explorer node data, and Distiller's
 * sensitivity CSV for a labelled sweep. Each is written where it applies; `notes` say why one is
 * missing or where it cannot reproduce the plan.
 */

export type { EcosystemInput, EcosystemPlan, EcosystemSweep, EcosystemUnit } from './types';
export { speedNote, type SpeedChoice, type SpeedNote } from './notes';

export interface EcosystemFile {
  path: string;
  bytes: Uint8Array;
}

export interface EcosystemExport {
  files: EcosystemFile[];
  notes: string[];
}

export function ecosystemExport(input: EcosystemInput): EcosystemExport {
  const parts = [llmCompressorRecipe(input), modelExplorerNodeData(input), distillerSensitivityCsv(input.format, input.sweep)];
  const encoder = new TextEncoder();
  return {
    files: parts.flatMap((part) => part.files.map(({ path, text }) => ({ path, bytes: encoder.encode(text) }))),
    notes: parts.flatMap((part) => part.notes),
  };
}

/** Every file of `ecosystemExport` that applies to this model, plan and sweep. */
export function ecosystemFiles(input: EcosystemInput): EcosystemFile[] {
  return ecosystemExport(input).files;
}
