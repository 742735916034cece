/** A labelled `<select>` over a fixed list of string options, typed by that list. */
export function Choice<T extends string>({
  label,
  ariaLabel,
  value,
  options,
  onChange,
  disabled,
  isOptionDisabled,
}: {
  label: string;
  /** Accessible name when the visible label is shared with another control. */
  ariaLabel?: string;
  value: T;
  options: readonly T[];
  onChange: (value: T) => void;
  disabled?: boolean;
  isOptionDisabled?: (option: T) => boolean;
}) {
  return (
    <label className="field">
      <span>{label}</span>
      <select
        aria-label={ariaLabel}
        value={value}
        disabled={disabled}
        onChange={(e) => {
          const next = options.find((option) => option === e.target.value);
          if (next !== undefined) onChange(next);
        }}
      >
        {options.map((option) => (
          <option key={option} disabled={isOptionDisabled?.(option)}>
            {option}
          </option>
        ))}
      </select>
    </label>
  );
}
