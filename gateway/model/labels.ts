/** A Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`): the one definition every stage checks against. */
export const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export const isLabelName = (name: string): boolean => LABEL_NAME_RE.test(name);
