export { dependencyGroups, groupsPreview } from './groups';
export { channelKeepMasks, type ChannelPlan, type KeepOptions } from './keep';
export { registerChannelRule, type ChannelRule, type LayerCall } from './rules';
export { shrinkModel, type ShrinkOptions, type ShrinkResult, type ShrunkWeight } from './shrink';
export { ShrinkError } from './topology';
export type { ChannelGroup, ChannelProducer, ChannelSlice, GroupPreview, SliceRole } from './types';
