import { createHash } from 'node:crypto';
import type { Labels, RelabelConfig } from '../config/types.ts';
import { errors } from '../errors.ts';
import { LABEL_NAME_RE } from './types.ts';

/**
 * Prometheus relabeling (`model/relabel/relabel.go`), ported exactly:
 *
 * - the source value is the `source_labels` values joined by `separator`; a
 *   missing label reads as the empty string;
 * - `regex` is anchored on both ends: `^(?:regex)$` (Go RE2 spellings
 *   `(?P<name>…)` and a leading `(?i)`/`(?s)` flag group are accepted);
 * - `replace`: when the regex matches, `target_label` and `replacement` are
 *   expanded (`$1`, `${1}`, `$name`, `${name}`, `$$`, with Go's rule that
 *   `$1x` names the group `1x`), an invalid expanded target name skips the
 *   step, and an empty result deletes the target label;
 * - `keep` / `drop`: drop the whole set when the value does not / does match;
 * - `hashmod`: md5 of the value, its lower 8 bytes as a big-endian uint64,
 *   modulo `modulus`, written to `target_label`;
 * - `labelmap`: every label whose name matches is copied to the expanded
 *   replacement name (the original stays);
 * - `labeldrop` / `labelkeep`: remove labels whose names match / do not match.
 *
 * Setting a label to the empty string deletes it (as `labels.Builder` does).
 * Returns a new label set, or `null` when the target is dropped. The input is
 * never modified.
 */
export function relabel(labels: Labels, configs: readonly RelabelConfig[]): Labels | null {
  const lb: Labels = { ...labels };
  for (const cfg of configs) {
    if (!applyOne(lb, cfg)) return null;
  }
  return lb;
}

function set(lb: Labels, name: string, value: string): void {
  if (value === '') delete lb[name];
  else lb[name] = value;
}

function applyOne(lb: Labels, cfg: RelabelConfig): boolean {
  const re = compileRelabelRegex(cfg.regex);
  const separator = cfg.separator ?? ';';
  const val = (cfg.source_labels ?? []).map((n) => lb[n] ?? '').join(separator);

  switch (cfg.action) {
    case 'drop':
      return !re.test(val);
    case 'keep':
      return re.test(val);
    case 'replace': {
      if (cfg.target_label === undefined) return true;
      const m = re.exec(val);
      if (m === null) return true;
      const target = expandTemplate(cfg.target_label, m);
      if (!LABEL_NAME_RE.test(target)) return true;
      set(lb, target, expandTemplate(cfg.replacement ?? '$1', m));
      return true;
    }
    case 'hashmod': {
      if (cfg.target_label === undefined || !cfg.modulus) return true;
      set(lb, cfg.target_label, hashmod(val, cfg.modulus));
      return true;
    }
    case 'labelmap': {
      // Iterate a sorted snapshot: Prometheus ranges over sorted labels, so on
      // a collision the last name in sort order wins.
      for (const name of Object.keys(lb).sort()) {
        const m = re.exec(name);
        if (m === null) continue;
        const to = expandTemplate(cfg.replacement ?? '$1', m);
        if (to !== '') set(lb, to, lb[name]!);
      }
      return true;
    }
    case 'labeldrop':
      for (const name of Object.keys(lb)) if (re.test(name)) delete lb[name];
      return true;
    case 'labelkeep':
      for (const name of Object.keys(lb)) if (!re.test(name)) delete lb[name];
      return true;
    default: {
      const never: never = cfg.action;
      throw errors.badConfig(`relabel: unknown action ${JSON.stringify(never)}`);
    }
  }
}

/** md5(value), lower 8 bytes read big-endian as uint64, modulo `modulus`. */
export function hashmod(value: string, modulus: number): string {
  const sum = createHash('md5').update(value, 'utf8').digest();
  return (sum.readBigUInt64BE(8) % BigInt(modulus)).toString();
}

const regexCache = new Map<string, RegExp>();

/**
 * Compiles a relabel regex the way Prometheus does: anchored `^(?:re)$`.
 * Translates the Go RE2 spellings JavaScript lacks (`(?P<name>`, a leading
 * `(?i)`, `(?s)`, `(?is)` flag group). Compiled regexes are cached.
 * Throws `COVGATE_BAD_CONFIG` when the regex is invalid, so the config loader
 * can call it to validate.
 */
export function compileRelabelRegex(source: string | undefined): RegExp {
  const src = source ?? '(.*)';
  const cached = regexCache.get(src);
  if (cached) return cached;

  let body = src.replace(/\(\?P</g, '(?<');
  let flags = '';
  const flagGroup = /^\(\?([is]+)\)/.exec(body);
  if (flagGroup) {
    flags = [...new Set(flagGroup[1]!)].join('');
    body = body.slice(flagGroup[0].length);
  }
  const anchored = `^(?:${body})$`;
  let re: RegExp;
  try {
    // Unicode mode first (Go regexps are UTF-8 aware and know \pL); fall back
    // for patterns valid only in legacy mode (e.g. needless escapes like \-).
    re = new RegExp(anchored, flags + 'u');
  } catch {
    try {
      re = new RegExp(anchored, flags);
    } catch (err) {
      throw errors.badConfig(`invalid relabel regex ${JSON.stringify(src)}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (regexCache.size > 1000) regexCache.clear();
  regexCache.set(src, re);
  return re;
}

/**
 * Go's `Regexp.ExpandString`: `$name` / `${name}` where name is a run of
 * letters, digits and `_` (so `$1x` means group `1x`, which does not exist
 * and expands to nothing); `$$` is a literal `$`; a malformed reference is
 * kept as text; numbers with leading zeros are names, not indexes.
 */
export function expandTemplate(template: string, match: RegExpExecArray): string {
  let out = '';
  let rest = template;
  for (;;) {
    const i = rest.indexOf('$');
    if (i < 0) break;
    out += rest.slice(0, i);
    rest = rest.slice(i + 1);
    if (rest.startsWith('$')) {
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    const ref = extractRef(rest);
    if (ref === null) {
      out += '$';
      continue;
    }
    rest = ref.rest;
    if (ref.num >= 0) {
      out += match[ref.num] ?? '';
    } else {
      out += match.groups?.[ref.name] ?? '';
    }
  }
  return out + rest;
}

function extractRef(str: string): { name: string; num: number; rest: string } | null {
  let s = str;
  const brace = s.startsWith('{');
  if (brace) s = s.slice(1);
  const m = /^[\p{L}\p{Nd}_]+/u.exec(s);
  if (m === null) return null;
  const name = m[0];
  let end = name.length;
  if (brace) {
    if (s[end] !== '}') return null;
    end++;
  }
  let num = /^[0-9]+$/.test(name) && name.length <= 8 ? Number(name) : -1;
  if (name.length > 1 && name.startsWith('0')) num = -1;
  return { name, num, rest: s.slice(end) };
}
