import { baseFiles, withFloats, withJson, type FileMap } from './bytes';
import { HOSTILE_NAME } from './entries-layers';
import type { CorpusEntry } from './types';

const GRAPH = 'e2e/fixtures/graph-model';

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}
interface GraphModelJson {
  modelTopology: { node: GraphNode[] };
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
}

function editGraph(edit: (model: GraphModelJson) => void): () => FileMap {
  return () => withJson<GraphModelJson>(baseFiles(GRAPH), 'model.json', edit);
}

function node(model: GraphModelJson, name: string): GraphNode {
  const found = model.modelTopology.node.find((n) => n.name === name);
  if (found === undefined) throw new Error(`corpus: no node ${name}`);
  return found;
}

function graphError(name: string, cls: string, files: () => FileMap, message: RegExp): CorpusEntry {
  return { name, class: cls, kind: 'graph-model', files, command: 'inspect', expect: { kind: 'error', file: `${name}/model.json`, message } };
}

export function graphEntries(): CorpusEntry[] {
  return [
    graphError(
      'graph-unknown-op',
      'GraphModel: unknown op',
      editGraph((m) => {
        node(m, 'y').op = 'FancyMatMul';
      }),
      /node "y" is a FancyMatMul, which TensorFlow\.js cannot execute/,
    ),
    graphError(
      'graph-missing-weight',
      'GraphModel: missing weights for a node',
      editGraph((m) => {
        m.weightsManifest[0].weights = [];
      }),
      /node "w" is a Const whose value is not in weightsManifest \(expected a weight named "w", got 0 other weights\)/,
    ),
    graphError(
      'graph-bad-dtype',
      'GraphModel: bad dtype',
      editGraph((m) => {
        m.weightsManifest[0].weights[0].dtype = 'float64';
      }),
      /weight "w" has an unsupported dtype \(expected float32, int32, bool, string or complex64, got float64\)/,
    ),
    graphError(
      'graph-dangling-input',
      'GraphModel: dangling input',
      editGraph((m) => {
        node(m, 'y').input = ['x', 'nope:0'];
      }),
      /node "y" reads "nope:0", which is not a node of the graph/,
    ),
    graphError(
      'graph-cycle',
      'GraphModel: cycle',
      editGraph((m) => {
        node(m, 'y').input = ['relu', 'w'];
        m.modelTopology.node.push({ name: 'relu', op: 'Relu', input: ['y'], attr: { T: { type: 'DT_FLOAT' } } });
      }),
      /nodes of the graph form a cycle: (y ← relu ← y|relu ← y ← relu)/,
    ),
    graphError(
      'graph-missing-shard',
      'GraphModel: missing shard',
      () => {
        const { 'model.json': model } = baseFiles(GRAPH);
        return { 'model.json': model };
      },
      /weightsManifest lists "group1-shard1of1\.bin" but no such file was dropped/,
    ),
    {
      name: 'graph-nan-weights',
      class: 'NaN/Inf weights',
      kind: 'graph-model',
      files: () => {
        const files = baseFiles(GRAPH);
        return { ...files, 'group1-shard1of1.bin': withFloats(files['group1-shard1of1.bin'], 4, [NaN]) };
      },
      command: 'inspect',
      expect: { kind: 'warning', warning: /weight w holds 1 NaN values/ },
    },
    {
      name: 'graph-html-names',
      class: 'HTML/script in names',
      kind: 'graph-model',
      files: editGraph((m) => {
        node(m, 'w').name = HOSTILE_NAME;
        node(m, 'y').input = ['x', HOSTILE_NAME];
        m.weightsManifest[0].weights[0].name = HOSTILE_NAME;
      }),
      command: 'inspect',
      expect: { kind: 'opens' },
    },
  ];
}
