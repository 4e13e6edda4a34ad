// The token dialog's optional "Limit to pipes" field: the text a person types, and the
// `pipes` the API takes (null: every pipe). The service checks each pattern.

/** Patterns from the field: one per line or comma separated; blank is null. */
export function pipesFromText(text) {
  const patterns = [...new Set(text.split(/[\s,]+/).filter(Boolean))];
  return patterns.length ? patterns : null;
}

/** The field's text for a token's pipes. */
export function pipesToText(pipes) {
  return pipes ? pipes.join('\n') : '';
}

/** The body's `pipes`, or undefined when the field says what the token has already. */
export function pipesChange(text, current, creating) {
  const pipes = pipesFromText(text);
  if (creating) return pipes === null ? undefined : pipes;
  return pipesToText(pipes) === pipesToText(current) ? undefined : pipes;
}
