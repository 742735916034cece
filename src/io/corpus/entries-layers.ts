import { baseFiles, json, text, withFloats, withJson, type FileMap } from './bytes';
import type { CorpusEntry } from './types';

const SEQUENTIAL = 'e2e/fixtures/two-shards';
const FUNCTIONAL = 'e2e/fixtures/functional';

interface Weight {
  name: string;
  shape: unknown[];
  dtype: string;
  quantization?: unknown;
}
interface Layer {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown;
}
interface ModelJson {
  modelTopology: { class_name: string; config: { layers: Layer[]; name?: string } };
  weightsManifest: { paths: string[]; weights: Weight[] }[];
  [key: string]: unknown;
}

const sequential = (): FileMap => baseFiles(SEQUENTIAL);
const functional = (): FileMap => baseFiles(FUNCTIONAL);

function editModel(files: FileMap, edit: (model: ModelJson) => void): FileMap {
  return withJson<ModelJson>(files, 'model.json', edit);
}

function weight(model: ModelJson, name: string): Weight {
  const found = model.weightsManifest.flatMap((g) => g.weights).find((w) => w.name === name);
  if (found === undefined) throw new Error(`corpus: no weight ${name}`);
  return found;
}

function layer(model: ModelJson, name: string): Layer {
  const found = model.modelTopology.config.layers.find((l) => (l.name ?? l.config['name']) === name);
  if (found === undefined) throw new Error(`corpus: no layer ${name}`);
  return found;
}

/** The Sequential base with one weight's manifest shape replaced. */
function reshaped(name: string, shape: unknown[]): () => FileMap {
  return () =>
    editModel(sequential(), (m) => {
      weight(m, name).shape = shape;
    });
}

/** The layer `from` and its weights renamed to `to`. */
function renamed(files: FileMap, from: string, to: string): FileMap {
  return editModel(files, (m) => {
    layer(m, from).config['name'] = to;
    for (const w of m.weightsManifest.flatMap((g) => g.weights)) if (w.name.startsWith(`${from}/`)) w.name = `${to}${w.name.slice(from.length)}`;
  });
}

function without(files: FileMap, ...names: string[]): FileMap {
  return Object.fromEntries(Object.entries(files).filter(([name]) => !names.includes(name)));
}

/** A LayersModel entry: `inspect` of the folder must fail with `message` about its model.json. */
function modelError(name: string, cls: string, files: () => FileMap, message: RegExp): CorpusEntry {
  return { name, class: cls, kind: 'layers-model', files, command: 'inspect', expect: { kind: 'error', file: `${name}/model.json`, message } };
}

const HOSTILE_NAME = '<img src=x onerror="window.__lopperPwned=1">';

export function layersEntries(): CorpusEntry[] {
  return [
    modelError(
      'layers-cycle',
      'functional topology with a cycle',
      () =>
        editModel(functional(), (m) => {
          layer(m, 'pad').inbound_nodes = [[['stem_relu', 0, 0, {}]]];
        }),
      /the layers of model "\w+" form a cycle: .*pad.*stem_relu/,
    ),
    modelError(
      'layers-dangling-inbound',
      'dangling inbound node',
      () =>
        editModel(functional(), (m) => {
          layer(m, 'gap').inbound_nodes = [[['poool', 0, 0, {}]]];
        }),
      /layer "gap" of model "\w+" reads from "poool", which is not a layer of that model/,
    ),
    modelError(
      'layers-dense-million-units',
      'Dense layer claiming 10⁶ units',
      () =>
        editModel(sequential(), (m) => {
          layer(m, 'logits').config['units'] = 1_000_000;
        }),
      /layer "logits" \(Dense\) declares units 1000000, but its kernel \[784, 10\] holds 10/,
    ),
    modelError(
      'layers-kernel-transposed',
      'kernel stored transposed',
      reshaped('logits/kernel', [10, 784]),
      /layer "logits" \(Dense\) declares units 10, but its kernel \[10, 784\] holds 784/,
    ),
    modelError(
      'layers-bias-mismatch',
      'byte counts that do not add up',
      () =>
        editModel(sequential(), (m) => {
          weight(m, 'conv2/bias').shape = [6];
          weight(m, 'logits/bias').shape = [20];
        }),
      /layer "conv2" \(Conv2D\) declares filters 16, but its bias has shape \[6\] \(expected \[16\], got \[6\]\)/,
    ),
    modelError(
      'layers-kernel-wrong-input',
      'kernel stored transposed',
      () => {
        const files = editModel(sequential(), (m) => {
          layer(m, 'logits').config['units'] = 20;
          weight(m, 'logits/kernel').shape = [392, 20];
          weight(m, 'logits/bias').shape = [20];
        });
        const shard = files['group1-shard2of2.bin'];
        const longer = new Uint8Array(shard.length + 40);
        longer.set(shard);
        return { ...files, 'group1-shard2of2.bin': longer };
      },
      /layer "logits" \(Dense\) reads 784 inputs, but its kernel \[392, 20\] is for 392/,
    ),
    modelError(
      'layers-zero-layers',
      'zero layers',
      () =>
        without(
          editModel(sequential(), (m) => {
            m.modelTopology.config.layers = [];
            m.weightsManifest = [];
          }),
          'group1-shard1of2.bin',
          'group1-shard2of2.bin',
        ),
      /model "two_shards" has no layers \(expected at least one layer in modelTopology, got an empty list\)/,
    ),
    modelError(
      'layers-rejected-name',
      'layer names tfjs rejects',
      () => renamed(sequential(), 'conv1', 'conv 1'),
      /layer "conv 1" \(Conv2D\) of model "two_shards" has a name TensorFlow\.js cannot give its tensors \(expected a letter or digit, then letters, digits or -\._\/, got "conv 1"\)/,
    ),
    {
      name: 'layers-nan-weights',
      class: 'NaN/Inf weights',
      kind: 'layers-model',
      files: () => {
        const files = sequential();
        return { ...files, 'group1-shard1of2.bin': withFloats(files['group1-shard1of2.bin'], 0, [NaN, NaN, Infinity]) };
      },
      command: 'inspect',
      expect: { kind: 'warning', warning: /weight conv1\/kernel holds 2 NaN and 1 ±Infinity values/ },
    },
    modelError(
      'layers-truncated-shard',
      'truncated shard',
      () => {
        const files = sequential();
        return { ...files, 'group1-shard2of2.bin': files['group1-shard2of2.bin'].subarray(0, 100) };
      },
      /shards group1-shard1of2\.bin, group1-shard2of2\.bin hold \d+ bytes but the weights listed for them need \d+ \(expected \d+ bytes, got \d+ bytes\)/,
    ),
    modelError(
      'layers-missing-shard',
      'missing shard',
      () => without(sequential(), 'group1-shard2of2.bin'),
      /weightsManifest lists "group1-shard2of2\.bin" but no such file was dropped/,
    ),
    modelError(
      'layers-extra-shard',
      'extra shard',
      () => ({ ...sequential(), 'group1-shard3of3.bin': new Uint8Array(16) }),
      /"layers-extra-shard\/group1-shard3of3\.bin" looks like a weight shard but weightsManifest does not list it/,
    ),
    modelError(
      'layers-misnamed-shard',
      'misnamed shard',
      () => {
        const files = sequential();
        return { ...without(files, 'group1-shard2of2.bin'), 'group1-shard2of2 (1).bin': files['group1-shard2of2.bin'] };
      },
      /weightsManifest lists "group1-shard2of2\.bin" but no such file was dropped/,
    ),
    modelError('layers-byte-count', 'byte counts that do not add up', reshaped('conv1/kernel', [3, 4, 1, 8]), /need \d+ \(expected \d+ bytes, got \d+ bytes\)/),
    modelError(
      'layers-negative-shape',
      'negative shape',
      reshaped('conv1/bias', [-8]),
      /weight "conv1\/bias" has an invalid shape \(expected a list of non-negative integers, got \[-8\]\)/,
    ),
    modelError(
      'layers-fractional-shape',
      'non-integer shape',
      reshaped('conv1/bias', [7.5]),
      /weight "conv1\/bias" has an invalid shape \(expected a list of non-negative integers, got \[7\.5\]\)/,
    ),
    modelError(
      'layers-huge-shape',
      'huge shape',
      reshaped('conv1/bias', [1e6, 1e6, 1e6]),
      /weight "conv1\/bias" has shape \[1000000, 1000000, 1000000\], more elements than one weight can hold \(expected at most 2147483647 elements, got 1000000000000000000\)/,
    ),
    modelError(
      'layers-unknown-dtype',
      'unknown dtype',
      () =>
        editModel(sequential(), (m) => {
          weight(m, 'conv1/bias').dtype = 'float64';
        }),
      /weight "conv1\/bias" has an unsupported dtype \(expected float32, int32 or bool, got float64\)/,
    ),
    modelError(
      'layers-unknown-quantization',
      'unknown quantization',
      () =>
        editModel(sequential(), (m) => {
          weight(m, 'conv1/bias').quantization = { dtype: 'int4', scale: 1, min: 0 };
        }),
      /weight "conv1\/bias" has an unsupported quantization dtype \(expected uint8, uint16 or float16, got int4\)/,
    ),
    modelError(
      'layers-unknown-class',
      'unknown layer class',
      () =>
        editModel(sequential(), (m) => {
          layer(m, 'conv2').class_name = 'FancyConv';
        }),
      /layer "conv2" is a FancyConv, which TensorFlow\.js layers cannot build/,
    ),
    modelError('layers-invalid-json', 'invalid JSON', () => ({ ...sequential(), 'model.json': text('{"format": "layers-model", "modelTopology": {') }), /is not valid JSON/),
    modelError(
      'layers-non-utf8',
      'non-UTF-8 JSON',
      () => ({ ...sequential(), 'model.json': Uint8Array.of(0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00) }),
      /is not UTF-8 text \(expected a JSON model\.json, got a byte 0xff at offset 0\)/,
    ),
    modelError('layers-empty-json', 'empty JSON', () => ({ ...sequential(), 'model.json': new Uint8Array(0) }), /is empty \(expected a JSON model\.json, got 0 bytes\)/),
    modelError(
      'layers-not-a-model',
      'JSON that is not a model',
      () => ({ ...sequential(), 'model.json': json({ modelTopology: { nodes: [] }, weightsManifest: [] }) }),
      /is not a TF\.js LayersModel/,
    ),
    modelError(
      'layers-no-manifest',
      'no weightsManifest',
      () =>
        editModel(sequential(), (m) => {
          Reflect.deleteProperty(m, 'weightsManifest');
        }),
      /has no weightsManifest list/,
    ),
    {
      name: 'layers-proto-keys',
      class: '__proto__/constructor keys',
      kind: 'layers-model',
      files: () => {
        const files = sequential();
        const source = new TextDecoder().decode(files['model.json']);
        const poisoned = source.replace('{', '{"__proto__": {"lopperPolluted": true}, "constructor": {"prototype": {"lopperPolluted": true}},');
        return { ...files, 'model.json': text(poisoned.replace('"filters":', '"__proto__": {"lopperPolluted": true}, "filters":')) };
      },
      command: 'inspect',
      expect: { kind: 'opens' },
    },
    modelError(
      'layers-proto-name',
      '__proto__/constructor keys',
      () =>
        editModel(sequential(), (m) => {
          layer(m, 'pool1').config['name'] = '__proto__';
        }),
      /layer "__proto__" \(MaxPooling2D\) of model "two_shards" has a name TensorFlow\.js cannot give its tensors/,
    ),
    modelError(
      'layers-html-names',
      'HTML/script in names',
      () =>
        editModel(sequential(), (m) => {
          layer(m, 'pool1').config['name'] = HOSTILE_NAME;
        }),
      /layer "<img src=x onerror="window\.__lopperPwned=1">" \(MaxPooling2D\) of model "two_shards" has a name TensorFlow\.js cannot give its tensors/,
    ),
    {
      name: 'layers-constructor-name',
      class: '__proto__/constructor keys',
      kind: 'layers-model',
      files: () =>
        editModel(sequential(), (m) => {
          layer(m, 'pool1').config['name'] = 'constructor';
          layer(m, 'pool2').config['name'] = 'hasOwnProperty';
        }),
      command: 'inspect',
      expect: { kind: 'opens' },
    },
    modelError(
      'layers-html-weight-names',
      'HTML/script in names',
      () => renamed(sequential(), 'conv1', HOSTILE_NAME),
      /layer "<img src=x onerror="window\.__lopperPwned=1">" \(Conv2D\) of model "two_shards" has a name TensorFlow\.js cannot give its tensors/,
    ),
  ];
}

export { HOSTILE_NAME };
