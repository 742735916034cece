import type * as tf from '@tensorflow/tfjs';
import { dequantizeWeights } from './dequantize';
import { ManifestError, NoModelFoundError, UnsupportedOpError } from './errors';
import { sha256Hex } from './hash';
import { isRecord, parseJsonBytes, whyNotJson } from './input-file';
import { modelJsonKind, parseWeightsManifest, type WeightsGroup } from './manifest';
import { modelJsonFilesOfKind, onlyModelJson, readModelJsonFilesOfKind } from './model-json-files';
import { readShards, resolveShards } from './shards';
import { EXECUTABLE_GRAPH_OPS } from './tfjs-graph-ops';
import { modelName } from './tfjs-layers';
import type { InputFile, MatchContext, ModelFormat, OpenedModel } from './types';

/** One GraphDef node as `tensorflowjs_converter` writes it (`attr` values stay as in the file). */
export interface GraphNodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
  device?: string;
}

/** The GraphDef of a GraphModel: `node`, `versions`, optional `library.function`. */
export interface GraphTopology {
  node: GraphNodeDef[];
  versions?: Record<string, unknown>;
  library?: Record<string, unknown>;
}

/** A validated GraphModel `model.json`. */
export interface GraphModelJson {
  format: 'graph-model';
  modelTopology: GraphTopology;
  weightsManifest: WeightsGroup[];
  /** True for files written before `format` existed. */
  legacy: boolean;
  signature?: Record<string, unknown>;
  userDefinedMetadata?: Record<string, unknown>;
  modelInitializer?: Record<string, unknown>;
  initializerSignature?: Record<string, unknown>;
  generatedBy?: string;
  convertedBy?: string | null;
}

/** `^name`, `name:1`, `name:output:0` → `name`. */
export function inputNodeName(input: string): string {
  const plain = input.startsWith('^') ? input.slice(1) : input;
  const colon = plain.indexOf(':');
  return colon < 0 ? plain : plain.slice(0, colon);
}

function nodeList(value: unknown, file: string, where: string): GraphNodeDef[] {
  if (!Array.isArray(value)) {
    throw new ManifestError({ file, message: `${where} has no node list`, expected: 'node: [{name, op, input?, attr?}]', actual: describeValue(value) });
  }
  return value.map((entry: unknown, index) => {
    if (!isRecord(entry) || typeof entry['name'] !== 'string' || entry['name'] === '') {
      throw new ManifestError({ file, message: `${where}[${index}] is not a node`, expected: '{name, op}', actual: describeValue(entry) });
    }
    const name = entry['name'];
    if (typeof entry['op'] !== 'string' || entry['op'] === '') {
      throw new ManifestError({ file, message: `node "${name}" has no op`, expected: 'an op name', actual: describeValue(entry['op']) });
    }
    const input = entry['input'];
    if (input !== undefined && (!Array.isArray(input) || !input.every((i: unknown) => typeof i === 'string'))) {
      throw new ManifestError({ file, message: `node "${name}" has an unreadable input list`, expected: 'a list of node names', actual: describeValue(input) });
    }
    const attr = entry['attr'];
    if (attr !== undefined && !isRecord(attr)) {
      throw new ManifestError({ file, message: `node "${name}" has unreadable attributes`, expected: 'an attr object', actual: describeValue(attr) });
    }
    const node: GraphNodeDef = { ...entry, name, op: entry['op'] };
    if (input !== undefined) node.input = input as string[];
    if (attr !== undefined) node.attr = attr;
    return node;
  });
}

/** Every node name unique, every input a node of the same graph, every op one tfjs-converter executes. */
function checkNodes(nodes: readonly GraphNodeDef[], file: string, where: string, extraNames: readonly string[] = []): void {
  const names = new Set<string>(extraNames);
  for (const node of nodes) {
    if (names.has(node.name)) throw new ManifestError({ file, message: `${where} has two nodes named "${node.name}"` });
    names.add(node.name);
  }
  for (const node of nodes) {
    if (!EXECUTABLE_GRAPH_OPS.has(node.op)) throw new UnsupportedOpError(file, node.op, node.name, where === 'the graph' ? 'node' : `${where} node`);
    for (const input of node.input ?? []) {
      const source = inputNodeName(input);
      if (!names.has(source)) {
        throw new ManifestError({
          file,
          message: `node "${node.name}" reads "${input}", which is not a node of ${where}`,
          expected: 'a node name',
          actual: source,
        });
      }
    }
  }
}

/** A cycle among the nodes (as names, the first repeated at the end), not counting the back edges of while loops (from NextIteration); undefined without one. */
function findNodeCycle(nodes: readonly GraphNodeDef[]): string[] | undefined {
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const sources = (node: GraphNodeDef): string[] => (node.input ?? []).map(inputNodeName).filter((source) => byName.has(source) && byName.get(source)?.op !== 'NextIteration');
  const state = new Map<string, 'open' | 'done'>();
  for (const root of nodes) {
    if (state.has(root.name)) continue;
    const path: string[] = [root.name];
    const stack: { node: GraphNodeDef; inputs: string[]; next: number }[] = [{ node: root, inputs: sources(root), next: 0 }];
    state.set(root.name, 'open');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next < top.inputs.length) {
        const source = top.inputs[top.next++];
        const seen = state.get(source);
        if (seen === 'open') return [...path.slice(path.indexOf(source)), source];
        const node = byName.get(source);
        if (seen === undefined && node !== undefined) {
          state.set(source, 'open');
          path.push(source);
          stack.push({ node, inputs: sources(node), next: 0 });
        }
      } else {
        state.set(top.node.name, 'done');
        path.pop();
        stack.pop();
      }
    }
  }
  return undefined;
}

/** The functions of `library.function`: their bodies are checked like the graph; arguments count as nodes. */
function checkFunctions(library: unknown, file: string): void {
  if (!isRecord(library) || !Array.isArray(library['function'])) return;
  for (const fn of library['function'] as unknown[]) {
    if (!isRecord(fn)) throw new ManifestError({ file, message: 'modelTopology.library.function holds a non-function', actual: describeValue(fn) });
    const signature = isRecord(fn['signature']) ? fn['signature'] : {};
    const name = typeof signature['name'] === 'string' ? signature['name'] : 'a function';
    const args = Array.isArray(signature['inputArg']) ? (signature['inputArg'] as unknown[]) : [];
    const argNames = args.flatMap((arg) => (isRecord(arg) && typeof arg['name'] === 'string' ? [arg['name']] : []));
    const body = fn['nodeDef'] === undefined ? [] : nodeList(fn['nodeDef'], file, `function "${name}"`);
    checkNodes(body, file, `function "${name}"`, argNames);
  }
}

/** Older converters write float16 weights as `dtype: "float16"`; tfjs reads them as float32 quantized to float16. */
function normaliseFloat16Dtypes(manifest: unknown): unknown {
  if (!Array.isArray(manifest)) return manifest;
  return manifest.map((group: unknown) => {
    if (!isRecord(group) || !Array.isArray(group['weights'])) return group;
    const weights = (group['weights'] as unknown[]).map((weight) =>
      isRecord(weight) && weight['dtype'] === 'float16' && weight['quantization'] === undefined ? { ...weight, dtype: 'float32', quantization: { dtype: 'float16' } } : weight,
    );
    return { ...group, weights };
  });
}

/** Validates a parsed GraphModel model.json (`file` names it in errors): structure, ops, and weights for every Const. */
export function parseGraphModelJson(json: unknown, file: string): GraphModelJson {
  if (!isRecord(json)) throw new ManifestError({ file, message: 'is not a JSON object', expected: 'a model.json object', actual: describeValue(json) });
  if (modelJsonKind(json) !== 'graph-model') {
    throw new ManifestError({
      file,
      message: 'is not a TF.js GraphModel',
      expected: 'format "graph-model", or a modelTopology with a node list',
      actual: json['format'] === undefined ? 'no format and no modelTopology.node' : `format ${JSON.stringify(json['format'])}`,
    });
  }
  const topology = json['modelTopology'] as Record<string, unknown>;
  const nodes = nodeList(topology['node'], file, 'modelTopology');
  checkNodes(nodes, file, 'the graph');
  const cycle = findNodeCycle(nodes);
  if (cycle !== undefined) {
    throw new ManifestError({
      file,
      message: `the nodes of the graph form a cycle: ${cycle.join(' ← ')}`,
      expected: 'each node reading only from nodes computed before it, or a while loop through NextIteration',
    });
  }
  checkFunctions(topology['library'], file);
  const weightsManifest = parseWeightsManifest(normaliseFloat16Dtypes(json['weightsManifest']), file, { opaque: true });
  const weightNames = new Set(weightsManifest.flatMap((group) => group.weights.map((w) => w.name)));
  for (const node of nodes) {
    if (node.op === 'Const' && !weightNames.has(node.name)) {
      throw new ManifestError({
        file,
        message: `node "${node.name}" is a Const whose value is not in weightsManifest`,
        expected: `a weight named "${node.name}"`,
        actual: `${weightNames.size} other weights`,
      });
    }
  }
  const modelTopology: GraphTopology = { ...topology, node: nodes };
  const parsed: GraphModelJson = { format: 'graph-model', modelTopology, weightsManifest, legacy: json['format'] === undefined };
  const initializer = json['modelInitializer'];
  if (isRecord(initializer)) {
    if (initializer['node'] !== undefined) checkNodes(nodeList(initializer['node'], file, 'modelInitializer'), file, 'modelInitializer');
    parsed.modelInitializer = initializer;
  }
  for (const key of ['signature', 'userDefinedMetadata', 'initializerSignature'] as const) {
    const value = json[key];
    if (isRecord(value)) parsed[key] = value;
  }
  if (typeof json['generatedBy'] === 'string') parsed.generatedBy = json['generatedBy'];
  const convertedBy = json['convertedBy'];
  if (typeof convertedBy === 'string' || convertedBy === null) parsed.convertedBy = convertedBy;
  return parsed;
}

/** Opens a validated GraphModel: shards read in manifest order, float weights decoded to float32, int32/bool kept. */
export async function openGraphModel(modelFile: InputFile, files: readonly InputFile[]): Promise<OpenedModel> {
  const bytes = await modelFile.bytes();
  const json = parseJsonBytes(bytes);
  if (json === undefined) throw new ManifestError({ file: modelFile.path, ...whyNotJson(bytes), expected: 'a JSON model.json' });
  const manifest = parseGraphModelJson(json, modelFile.path);
  const groups = resolveShards(manifest, modelFile, files);
  const stored = await readShards(modelFile, groups);
  let decoded: ReturnType<typeof dequantizeWeights>;
  try {
    decoded = dequantizeWeights(
      manifest.weightsManifest.flatMap((group) => group.weights),
      stored,
    );
  } catch (error) {
    // Only string weights' lengths are found while reading: their errors name the shards.
    if (error instanceof RangeError) throw new ManifestError({ file: modelFile.path, message: error.message, expected: 'string weights whose lengths fill the shards exactly' });
    throw error;
  }

  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: manifest.modelTopology as unknown as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: decoded.specs,
    weightData: decoded.data,
    format: 'graph-model',
  };
  if (manifest.generatedBy !== undefined) artifacts.generatedBy = manifest.generatedBy;
  if (manifest.convertedBy !== undefined) artifacts.convertedBy = manifest.convertedBy;
  if (manifest.signature !== undefined) artifacts.signature = manifest.signature;
  if (manifest.userDefinedMetadata !== undefined) artifacts.userDefinedMetadata = manifest.userDefinedMetadata as NonNullable<tf.io.ModelArtifacts['userDefinedMetadata']>;
  if (manifest.modelInitializer !== undefined) artifacts.modelInitializer = manifest.modelInitializer;
  if (manifest.initializerSignature !== undefined) artifacts.initializerSignature = manifest.initializerSignature;
  return {
    format: 'graph-model',
    name: modelName(modelFile.path),
    artifacts,
    sha256: await sha256Hex(bytes),
    files: [modelFile.path, ...groups.flatMap((group) => group.files.map((f) => f.path))],
  };
}

/** TF.js GraphModels: converted SavedModels, TF Hub modules and frozen graphs. */
export const tfjsGraphFormat: ModelFormat = {
  name: 'graph-model',
  match(files: readonly InputFile[], context?: MatchContext): boolean {
    return context !== undefined && modelJsonFilesOfKind(files, 'graph-model', (file) => context.json(file.path)).length > 0;
  },
  async open(files: readonly InputFile[]): Promise<OpenedModel> {
    const modelFile = onlyModelJson(await readModelJsonFilesOfKind(files, 'graph-model'));
    if (modelFile === undefined)
      throw new NoModelFoundError(
        files.map((f) => f.path),
        'a TF.js GraphModel model.json',
      );
    return openGraphModel(modelFile, files);
  },
};

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : JSON.stringify(value);
}
