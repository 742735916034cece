import { isRecord } from '../../io/input-file';
import type { GraphNodeDef } from '../../io/tfjs-graph';

/*
 * Readers for GraphDef attributes as `tensorflowjs_converter` writes them into model.json (the
 * protobuf JSON mapping): `{i: "2"}`, `{f: 0.5}`, `{b: true}`, `{s: "<base64>"}`, `{type: "DT_FLOAT"}`,
 * `{list: {i: [...]}}`, `{list: {s: [...]}}`, `{shape: {dim: [{size: "-1"}]}}`.
 */

function attrOf(node: GraphNodeDef, name: string): Record<string, unknown> | undefined {
  const value = node.attr?.[name];
  return isRecord(value) ? value : undefined;
}

/** Decodes a protobuf `bytes` value: base64 text, or a list of char codes (both occur). */
export function decodeBytes(value: unknown): string | undefined {
  if (Array.isArray(value)) return String.fromCharCode(...value.map(Number));
  if (typeof value !== 'string') return undefined;
  try {
    return atob(value);
  } catch {
    return value;
  }
}

/** Encodes text as the base64 `s` value of an attribute. */
export function encodeBytes(text: string): string {
  return btoa(text);
}

export function stringAttr(node: GraphNodeDef, name: string): string | undefined {
  return decodeBytes(attrOf(node, name)?.['s']);
}

export function stringListAttr(node: GraphNodeDef, name: string): string[] {
  const list = attrOf(node, name)?.['list'];
  const values = isRecord(list) ? list['s'] : undefined;
  return Array.isArray(values) ? values.flatMap((v: unknown) => decodeBytes(v) ?? []) : [];
}

export function intListAttr(node: GraphNodeDef, name: string): number[] | undefined {
  const list = attrOf(node, name)?.['list'];
  const values = isRecord(list) ? list['i'] : undefined;
  return Array.isArray(values) ? values.map((v: unknown) => Number(v)) : undefined;
}

export function intAttr(node: GraphNodeDef, name: string): number | undefined {
  const value = attrOf(node, name)?.['i'];
  return value === undefined ? undefined : Number(value);
}

export function boolAttr(node: GraphNodeDef, name: string): boolean {
  return attrOf(node, name)?.['b'] === true;
}

export function typeAttr(node: GraphNodeDef, name: string): string | undefined {
  const value = attrOf(node, name)?.['type'];
  return typeof value === 'string' ? value : undefined;
}

/** A `{shape: {dim: [...]}}` attribute: `-1` for unknown dimensions; `undefined` when absent or of unknown rank. */
export function shapeAttr(node: GraphNodeDef, name: string): number[] | undefined {
  const shape = attrOf(node, name)?.['shape'];
  if (!isRecord(shape) || shape['unknownRank'] === true) return undefined;
  const dims = shape['dim'];
  if (dims === undefined) return [];
  if (!Array.isArray(dims)) return undefined;
  return dims.map((dim: unknown) => (isRecord(dim) && dim['size'] !== undefined ? Number(dim['size']) : -1));
}

/** `DT_FLOAT` → `float32` and so on, as tfjs-converter maps them; `undefined` for what tfjs has no dtype for. */
export function tfjsDtype(type: string | undefined): 'float32' | 'int32' | 'bool' | 'string' | undefined {
  switch (type) {
    case 'DT_FLOAT':
    case 'DT_HALF':
    case 'DT_DOUBLE':
    case 'DT_BFLOAT16':
      return 'float32';
    case 'DT_INT32':
    case 'DT_INT64':
    case 'DT_INT8':
    case 'DT_UINT8':
    case 'DT_INT16':
    case 'DT_UINT16':
      return 'int32';
    case 'DT_BOOL':
      return 'bool';
    case 'DT_STRING':
      return 'string';
    default:
      return undefined;
  }
}
