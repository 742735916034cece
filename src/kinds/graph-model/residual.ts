import type { GraphNodeDef, GraphTopology } from '../../io/tfjs-graph';
import { inputNodeName } from '../../io/tfjs-graph';
import type { GraphIndex, GraphUnit } from './graph';

const ADD_OPS = new Set(['Add', 'AddV2', 'AddN']);

/** A residual add whose branch can be bypassed (DESIGN §6: named by the add node). */
export interface ResidualCandidate {
  /** The add node. */
  name: string;
  /** The input that passes when the branch is bypassed (`node` or `node:i`). */
  skip: string;
  /** The branch input. */
  branch: string;
  /** Units only the branch computes. */
  units: string[];
}

const sameShape = (a: readonly number[] | undefined, b: readonly number[] | undefined): boolean =>
  a !== undefined && b !== undefined && a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Residual adds: an Add/AddV2 (or a two-input AddN) outside any loop, both inputs computed and of the
 * add's own shape, where only one input's exclusive ancestry (nodes it depends on and the other
 * input does not) holds prunable ops: that input is the branch, the other the skip path — `x + f(x)`
 * as well as `pad(pool(x)) + f(x)`.
 */
export function residualCandidates(
  graph: GraphIndex,
  units: readonly GraphUnit[],
  shapeOf: (tensor: string) => number[] | undefined,
  framed: ReadonlySet<string>,
): ResidualCandidate[] {
  const unitByNode = new Map<string, string>(units.map((unit) => [unit.node, unit.name]));
  const candidates: ResidualCandidate[] = [];
  for (const name of graph.order) {
    const node = graph.node(name);
    if (!ADD_OPS.has(node.op) || framed.has(name)) continue;
    const inputs = graph.dataInputs(name);
    if (inputs.length !== 2 || inputs[0] === inputs[1]) continue;
    if (inputs.some((input) => graph.constantBehind(input) !== undefined)) continue;
    const outShape = shapeOf(name);
    if (!sameShape(shapeOf(inputs[0]), outShape) || !sameShape(shapeOf(inputs[1]), outShape)) continue;
    const closure = inputs.map((input) => {
      const set = graph.ancestors(inputNodeName(input));
      set.add(inputNodeName(input));
      return set;
    });
    const exclusiveUnits = [0, 1].map((i) => [...closure[i]].filter((n) => !closure[1 - i].has(n) && unitByNode.has(n)));
    const branchIndex = exclusiveUnits.findIndex((list, i) => list.length > 0 && exclusiveUnits[1 - i].length === 0);
    if (branchIndex < 0) continue;
    candidates.push({
      name,
      skip: inputs[1 - branchIndex],
      branch: inputs[branchIndex],
      units: graph.order.filter((n) => exclusiveUnits[branchIndex].includes(n)).map((n) => unitByNode.get(n) as string),
    });
  }
  return candidates;
}

/** `a`, `a:0` → the replacement; other outputs of `a` untouched. */
function rewiredInput(input: string, replacement: ReadonlyMap<string, string>): string {
  if (input.startsWith('^')) {
    const target = replacement.get(input.slice(1));
    return target === undefined ? input : `^${inputNodeName(target)}`;
  }
  const colon = input.indexOf(':');
  const nodeName = colon < 0 ? input : input.slice(0, colon);
  if (colon >= 0 && input.slice(colon + 1) !== '0') return input;
  return replacement.get(nodeName) ?? input;
}

export interface BypassedTopology {
  topology: GraphTopology;
  /** Nodes that no longer reach an output (dropped when `prune` is set). */
  deadNodes: Set<string>;
}

/**
 * The graph with each bypassed add's consumers reading its skip input instead (through chains of
 * bypassed adds). An add that is itself a model output becomes an Identity of its skip input. With
 * `prune`, nodes that reached an output before and no longer do are dropped (the dead branches);
 * without, they stay in the graph, unreachable.
 */
export function bypassTopology(graph: GraphIndex, bypass: ReadonlyMap<string, string>, outputs: readonly string[], prune: boolean): BypassedTopology {
  const replacement = new Map<string, string>();
  for (const name of graph.order) {
    const skip = bypass.get(name);
    if (skip !== undefined) replacement.set(name, rewiredInput(skip, replacement));
  }
  const outputNodes = new Set(outputs.map(inputNodeName));
  const nodes: GraphNodeDef[] = graph.topology.node.map((node) => {
    const skip = replacement.get(node.name);
    if (skip !== undefined && outputNodes.has(node.name)) {
      const attr: Record<string, unknown> = {};
      if (node.attr?.['T'] !== undefined) attr['T'] = node.attr['T'];
      return { name: node.name, op: 'Identity', input: [skip], attr };
    }
    if (node.input === undefined) return node;
    return { ...node, input: node.input.map((input) => rewiredInput(input, replacement)) };
  });
  const reached = (list: readonly GraphNodeDef[]): Set<string> => {
    const byName = new Map(list.map((n) => [n.name, n]));
    const seen = new Set<string>();
    const stack = [...outputNodes];
    while (stack.length > 0) {
      const current = stack.pop() as string;
      if (seen.has(current)) continue;
      seen.add(current);
      for (const input of byName.get(current)?.input ?? []) stack.push(inputNodeName(input));
    }
    return seen;
  };
  const before = reached(graph.topology.node);
  const after = reached(nodes);
  const deadNodes = new Set([...before].filter((name) => !after.has(name) && graph.nodes.get(name)?.op !== 'Placeholder'));
  const kept = prune ? nodes.filter((node) => !deadNodes.has(node.name)) : nodes;
  return { topology: { ...graph.topology, node: kept }, deadNodes };
}
