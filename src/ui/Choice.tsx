/** A labelled `<select>` over a fixed list of string options, typed by that list. */
export function Choice<T extends string>({
  label,
  ariaLabel,
  value,
  options,
  onChange,
  disabled,
  isOptionDisabled,
  unavailable,
  testId,
}: {
  label: string;
  /** Accessible name when the visible label is shared with another control. */
  ariaLabel?: string;
  value: T;
  options: readonly T[];
  onChange: (value: T) => void;
  disabled?: boolean;
  isOptionDisabled?: (option: T) => boolean;
  /** Why an option cannot be chosen now (shown as its tooltip and beside the select when chosen), or undefined. */
  unavailable?: (option: T) => string | undefined;
  testId?: string;
}) {
  const reason = unavailable?.(value);
  return (
    <label className="field">
      <span>{label}</span>
      <select
        data-testid={testId}
        aria-label={ariaLabel}
        value={value}
        disabled={disabled}
        onChange={(e) => {
          const next = options.find((option) => option === e.target.value);
          if (next !== undefined) onChange(next);
        }}
      >
        {options.map((option) => (
          <option key={option} value={option} disabled={isOptionDisabled?.(option) || unavailable?.(option) !== undefined} title={unavailable?.(option)}>
            {option}
          </option>
        ))}
      </select>
      {reason !== undefined && <small className="field-error">{reason}</small>}
    </label>
  );
}
