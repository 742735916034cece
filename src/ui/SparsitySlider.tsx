import { beginDrag, endDrag } from '../store/plan-actions';
import { formatPercent } from './format';

/** A 0…1 range input whose drag is one undo step (`key` names the control for the plan's history). */
export function SparsitySlider({
  value,
  onChange,
  dragKey,
  label,
  testId,
  layer,
  group,
  tabIndex,
  roving,
  valueText,
}: {
  value: number;
  onChange: (value: number) => void;
  dragKey: string;
  label: string;
  testId?: string;
  layer?: string;
  group?: string;
  tabIndex?: number;
  roving?: boolean;
  valueText?: string;
}) {
  return (
    <input
      type="range"
      data-testid={testId}
      data-layer={layer}
      data-group={group}
      data-roving={roving ? '' : undefined}
      tabIndex={tabIndex}
      min={0}
      max={1}
      step={0.01}
      value={value}
      aria-label={label}
      aria-valuetext={valueText ?? formatPercent(value)}
      onPointerDown={() => beginDrag(dragKey)}
      onPointerUp={endDrag}
      onPointerCancel={endDrag}
      onBlur={endDrag}
      onChange={(e) => onChange(Number(e.target.value))}
    />
  );
}
