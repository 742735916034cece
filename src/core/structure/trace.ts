import type { ChannelProducer, SliceRole } from './types';

/**
 * The channel layout of one value: for each index of its last axis, the source whose channel sits
 * there and which channel it is. Sources are producers (a Dense/Conv output), or fixed channels that
 * cannot be removed (a model input, the output of a layer that cannot be traced).
 */
export interface Slots {
  readonly source: Int32Array;
  readonly channel: Int32Array;
}

export function slotWidth(slots: Slots): number {
  return slots.source.length;
}

export function concatSlots(parts: readonly Slots[]): Slots {
  const width = parts.reduce((sum, part) => sum + slotWidth(part), 0);
  const source = new Int32Array(width);
  const channel = new Int32Array(width);
  let offset = 0;
  for (const part of parts) {
    source.set(part.source, offset);
    channel.set(part.channel, offset);
    offset += slotWidth(part);
  }
  return { source, channel };
}

/** Each slot repeated `times` times in a row (a depthwise multiplier): slot i → i·times … i·times + times − 1. */
export function repeatSlots(slots: Slots, times: number): Slots {
  const width = slotWidth(slots) * times;
  const source = new Int32Array(width);
  const channel = new Int32Array(width);
  for (let i = 0; i < width; i++) {
    source[i] = slots.source[Math.floor(i / times)];
    channel[i] = slots.channel[Math.floor(i / times)];
  }
  return { source, channel };
}

interface Source {
  readonly channels: number;
  readonly label: string;
  /** Execution order of the step that created it. */
  readonly order: number;
  readonly producer?: ChannelProducer;
  /** Set for channels that cannot be removed: what they are. */
  readonly fixed?: string;
  readonly reasons: string[];
  readonly couplings: string[];
}

/** A weight by its manifest name, with its full shape. */
export interface WeightRef {
  readonly name: string;
  readonly shape: readonly number[];
}

/** A weight slice recorded against a source: pairs (source channel, index along the axis). */
export interface RecordedSlice {
  readonly source: number;
  readonly weight: WeightRef;
  readonly layer: string;
  readonly axis: number;
  readonly role: SliceRole;
  readonly pairs: number[];
}

/** One class of coupled sources: the raw material of a ChannelGroup. */
export interface SourceClass {
  producers: { producer: ChannelProducer; channels: number; order: number }[];
  channels: number;
  slices: RecordedSlice[];
  couplings: string[];
  reasons: string[];
}

/** Sources of channels, the union-find that couples them, and the weight slices each one owns. */
export class ChannelTracer {
  private readonly sources: Source[] = [];
  private readonly parent: number[] = [];
  private readonly slices: RecordedSlice[] = [];
  private readonly values = new Map<string, Slots>();
  private readonly byUnit = new Map<string, number>();

  /** The source of a unit's outputs; a shared layer's later calls get the one its first call made. */
  addProducer(producer: ChannelProducer, channels: number, order: number): number {
    const known = this.byUnit.get(producer.unit);
    if (known !== undefined) return known;
    const id = this.add({ channels, label: producer.unit, order, producer, reasons: [], couplings: [] });
    this.byUnit.set(producer.unit, id);
    return id;
  }

  /** Slots of `width` channels that no group can remove (channel = slot index). */
  fixedSlots(width: number, label: string, order: number): Slots {
    return this.sourceSlots(this.add({ channels: width, label, order, fixed: label, reasons: [], couplings: [] }));
  }

  /** The slots of a whole source: channel j at index j. */
  sourceSlots(id: number): Slots {
    const width = this.sources[id].channels;
    return { source: new Int32Array(width).fill(id), channel: Int32Array.from({ length: width }, (_, j) => j) };
  }

  setValue(key: string, slots: Slots): void {
    this.values.set(key, slots);
  }

  value(key: string): Slots | undefined {
    return this.values.get(key);
  }

  /** Marks every source seen in `slots` as unable to shrink. */
  blockAll(slots: Slots, reason: string): void {
    for (const id of new Set(slots.source)) this.block(id, reason);
  }

  block(id: number, reason: string): void {
    const reasons = this.sources[id].reasons;
    if (!reasons.includes(reason)) reasons.push(reason);
  }

  /**
   * Couples two values slot by slot (a residual Add, a shared layer's calls): their sources then
   * lose the same channels. A slot pairing different channel numbers cannot be expressed that way
   * and blocks both sources.
   */
  couple(a: Slots, b: Slots, at: string): void {
    for (let i = 0; i < slotWidth(a); i++) {
      const [sa, sb, ca, cb] = [a.source[i], b.source[i], a.channel[i], b.channel[i]];
      if (sa === sb && ca === cb) continue;
      if (ca !== cb) {
        const reason = `${at} pairs channels of ${this.sources[sa].label} with other channels of ${this.sources[sb].label}`;
        this.block(sa, reason);
        this.block(sb, reason);
      }
      this.union(sa, sb, at);
    }
  }

  /** Records that index `indexOf(i)` of `weight` along `axis` goes with the channel in slot i. */
  record(slots: Slots, weight: WeightRef, layer: string, axis: number, role: SliceRole, indexOf: (slot: number) => readonly number[]): void {
    const bySource = new Map<number, number[]>();
    for (let i = 0; i < slotWidth(slots); i++) {
      const pairs = bySource.get(slots.source[i]) ?? [];
      for (const index of indexOf(i)) pairs.push(slots.channel[i], index);
      bySource.set(slots.source[i], pairs);
    }
    for (const [source, pairs] of bySource) this.slices.push({ source, weight, layer, axis, role, pairs });
  }

  /** The classes of coupled sources that hold at least one producer, in order of their first producer. */
  classes(): SourceClass[] {
    const members = new Map<number, number[]>();
    this.sources.forEach((_, id) => {
      const root = this.find(id);
      members.set(root, [...(members.get(root) ?? []), id]);
    });
    const slicesBySource = new Map<number, RecordedSlice[]>();
    for (const slice of this.slices) slicesBySource.set(slice.source, [...(slicesBySource.get(slice.source) ?? []), slice]);

    const classes: SourceClass[] = [];
    for (const ids of members.values()) {
      const sources = ids.map((id) => this.sources[id]);
      const producers = sources
        .filter((s) => s.producer !== undefined)
        .map((s) => ({ producer: s.producer as ChannelProducer, channels: s.channels, order: s.order }))
        .sort((x, y) => x.order - y.order);
      if (producers.length === 0) continue;
      const reasons = unique(sources.flatMap((s) => s.reasons));
      for (const s of sources) {
        if (s.fixed !== undefined) reasons.push(`coupled to ${s.fixed}, whose channels cannot be removed`);
      }
      const widths = unique(sources.map((s) => String(s.channels)));
      if (widths.length > 1) reasons.push(`coupled values have different channel counts (${widths.join(', ')})`);
      classes.push({
        producers,
        channels: producers[0].channels,
        slices: ids.flatMap((id) => slicesBySource.get(id) ?? []),
        couplings: unique(sources.flatMap((s) => s.couplings)),
        reasons: unique(reasons),
      });
    }
    return classes.sort((x, y) => x.producers[0].order - y.producers[0].order);
  }

  private add(source: Source): number {
    this.sources.push(source);
    this.parent.push(this.parent.length);
    return this.parent.length - 1;
  }

  private find(id: number): number {
    let root = id;
    while (this.parent[root] !== root) root = this.parent[root];
    for (let node = id; this.parent[node] !== root;) {
      const next = this.parent[node];
      this.parent[node] = root;
      node = next;
    }
    return root;
  }

  private union(a: number, b: number, at: string): void {
    for (const id of [a, b]) {
      if (!this.sources[id].couplings.includes(at)) this.sources[id].couplings.push(at);
    }
    const [ra, rb] = [this.find(a), this.find(b)];
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}
