import type { GraphNodeDef, GraphTopology } from '../../io/tfjs-graph';
import { inputNodeName } from '../../io/tfjs-graph';

/** The prunable ops (DESIGN §6 Units) and which of their inputs may be the constant weight. */
export const UNIT_OPS: ReadonlyMap<string, { weight: readonly number[]; data: (weightIndex: number) => number }> = new Map([
  ['Conv2D', { weight: [1], data: (_w: number) => 0 }],
  ['_FusedConv2D', { weight: [1], data: (_w: number) => 0 }],
  ['DepthwiseConv2dNative', { weight: [1], data: (_w: number) => 0 }],
  ['FusedDepthwiseConv2dNative', { weight: [1], data: (_w: number) => 0 }],
  ['Conv2DBackpropInput', { weight: [1], data: (_w: number) => 2 }],
  ['MatMul', { weight: [1, 0], data: (w: number) => 1 - w }],
  ['_FusedMatMul', { weight: [1, 0], data: (w: number) => 1 - w }],
  ['BatchMatMul', { weight: [1, 0], data: (w: number) => 1 - w }],
  ['BatchMatMulV2', { weight: [1, 0], data: (w: number) => 1 - w }],
  ['Einsum', { weight: [1, 0], data: (w: number) => 1 - w }],
]);

/** A unit: the constant weight one prunable op consumes. */
export interface GraphUnit {
  /** The weight's Const node name: the unit's name (DESIGN §6). */
  name: string;
  /** The op node that consumes it. */
  node: string;
  op: string;
  /** Which input of `node` is the weight. */
  weightIndex: number;
  /** The op's data operand as the op names it (`node`, `node:1`). */
  dataInput: string;
  shape: number[];
  size: number;
}

/** The main graph's nodes with their edges, in an execution order. */
export class GraphIndex {
  readonly nodes = new Map<string, GraphNodeDef>();
  /** Node name → names of the nodes that read it (data or control). */
  readonly consumers = new Map<string, string[]>();
  /** Every node, producers before consumers (loop back edges from NextIteration ignored), file order among equals. */
  readonly order: string[];

  constructor(readonly topology: GraphTopology) {
    for (const node of topology.node) {
      this.nodes.set(node.name, node);
      this.consumers.set(node.name, []);
    }
    for (const node of topology.node) {
      for (const source of new Set((node.input ?? []).map(inputNodeName))) this.consumers.get(source)?.push(node.name);
    }
    this.order = this.topologicalOrder();
  }

  node(name: string): GraphNodeDef {
    const node = this.nodes.get(name);
    if (node === undefined) throw new Error(`no node named ${name} in the graph`);
    return node;
  }

  /** Data inputs of a node as written (`name`, `name:1`), control inputs (`^name`) left out. */
  dataInputs(name: string): string[] {
    return (this.node(name).input ?? []).filter((input) => !input.startsWith('^'));
  }

  /** The Const node behind an input, looking through Identity nodes; `undefined` when it is computed. */
  constantBehind(input: string): string | undefined {
    let name = input;
    for (let hops = 0; hops < 64; hops++) {
      const colon = name.indexOf(':');
      if (colon >= 0 && name.slice(colon + 1) !== '0') return undefined;
      const node = this.nodes.get(inputNodeName(name));
      if (node === undefined) return undefined;
      if (node.op === 'Const') return node.name;
      if (node.op !== 'Identity') return undefined;
      const next = (node.input ?? []).find((i) => !i.startsWith('^'));
      if (next === undefined) return undefined;
      name = next;
    }
    return undefined;
  }

  /** Every node `name` depends on (data and control inputs, transitively), itself excluded. */
  ancestors(name: string): Set<string> {
    const seen = new Set<string>();
    const stack = [name];
    while (stack.length > 0) {
      const current = stack.pop() as string;
      const node = this.nodes.get(current);
      if (node === undefined || (node.op === 'NextIteration' && current !== name)) continue;
      for (const input of node.input ?? []) {
        const source = inputNodeName(input);
        if (!seen.has(source)) {
          seen.add(source);
          stack.push(source);
        }
      }
    }
    seen.delete(name);
    return seen;
  }

  /** Nodes inside a `while` frame: reachable from an Enter without passing an Exit. */
  framedNodes(): Set<string> {
    const framed = new Set<string>();
    const stack = this.topology.node.filter((n) => n.op === 'Enter').map((n) => n.name);
    for (const name of stack) framed.add(name);
    while (stack.length > 0) {
      const current = stack.pop() as string;
      for (const consumer of this.consumers.get(current) ?? []) {
        if (framed.has(consumer)) continue;
        framed.add(consumer);
        if (this.node(consumer).op !== 'Exit') stack.push(consumer);
      }
    }
    return framed;
  }

  /** Nodes that may not run in a pass: inside a loop frame, or after a Switch and before its Merge. */
  conditionalNodes(): Set<string> {
    const conditional = this.framedNodes();
    const stack = this.topology.node.filter((n) => n.op === 'Switch').map((n) => n.name);
    while (stack.length > 0) {
      const current = stack.pop() as string;
      for (const consumer of this.consumers.get(current) ?? []) {
        if (conditional.has(consumer) || this.node(consumer).op === 'Merge') continue;
        conditional.add(consumer);
        stack.push(consumer);
      }
    }
    for (const node of this.topology.node) if (node.op === 'Switch') conditional.add(node.name);
    return conditional;
  }

  private topologicalOrder(): string[] {
    const pending = new Map<string, number>();
    const position = new Map<string, number>();
    this.topology.node.forEach((node, index) => {
      position.set(node.name, index);
      const sources = new Set(
        (node.input ?? []).map(inputNodeName).filter((source) => this.nodes.has(source) && !(node.op === 'Merge' && this.nodes.get(source)?.op === 'NextIteration')),
      );
      pending.set(node.name, sources.size);
    });
    const ready = this.topology.node.filter((node) => pending.get(node.name) === 0).map((node) => node.name);
    const order: string[] = [];
    const done = new Set<string>();
    while (ready.length > 0) {
      ready.sort((a, b) => (position.get(b) ?? 0) - (position.get(a) ?? 0));
      const name = ready.pop() as string;
      order.push(name);
      done.add(name);
      for (const consumer of new Set(this.consumers.get(name))) {
        const node = this.node(consumer);
        if (node.op === 'Merge' && this.node(name).op === 'NextIteration') continue;
        const left = (pending.get(consumer) ?? 0) - 1;
        pending.set(consumer, left);
        if (left === 0) ready.push(consumer);
      }
    }
    // Whatever a cycle left behind keeps its file order at the end.
    for (const node of this.topology.node) if (!done.has(node.name)) order.push(node.name);
    return order;
  }
}

/**
 * The units of a graph in execution order: for each prunable op, the float Const behind its weight
 * operand while its data operand is computed. A weight shared by several ops is one unit, at its
 * first consumer.
 */
export function findUnits(graph: GraphIndex, weightShapes: ReadonlyMap<string, { shape: number[]; dtype: string }>): GraphUnit[] {
  const units: GraphUnit[] = [];
  const seen = new Set<string>();
  for (const name of graph.order) {
    const node = graph.node(name);
    const rule = UNIT_OPS.get(node.op);
    if (rule === undefined) continue;
    const inputs = graph.dataInputs(name);
    for (const weightIndex of rule.weight) {
      const dataIndex = rule.data(weightIndex);
      const weightInput = inputs[weightIndex];
      const dataInput = inputs[dataIndex];
      if (weightInput === undefined || dataInput === undefined) continue;
      const constant = graph.constantBehind(weightInput);
      if (constant === undefined || graph.constantBehind(dataInput) !== undefined) continue;
      const spec = weightShapes.get(constant);
      if (spec === undefined || spec.dtype !== 'float32') continue;
      if (!seen.has(constant)) {
        seen.add(constant);
        units.push({ name: constant, node: name, op: node.op, weightIndex, dataInput, shape: [...spec.shape], size: spec.shape.reduce((a, b) => a * b, 1) });
      }
      break;
    }
  }
  return units;
}
