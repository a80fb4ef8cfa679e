/**
 * Istanbul coverage map (`coverage-final.json`, `window.__coverage__`): every
 * file is validated (structure and counters, through the model) and the map
 * is returned as sent. Files keyed differently from their `path` keep their key.
 */
import { splitFile } from '../model/index.ts';
import type { CoverageMapData } from '../model/index.ts';
import { errors } from '../errors.ts';
import { isObject } from './builder.ts';
import type { PayloadDecoder } from './types.ts';

export function validateIstanbul(payload: unknown): CoverageMapData {
  if (!isObject(payload)) throw errors.badCoverage(`istanbul: expected a coverage map (object of path → file coverage), got ${Array.isArray(payload) ? 'an array' : payload === null ? 'null' : typeof payload}`);
  // splitFile runs assertFileCoverage and also checks every counter and branch mapping.
  for (const [key, file] of Object.entries(payload)) splitFile(key, file);
  return payload as CoverageMapData;
}

export const istanbulDecoder: PayloadDecoder = {
  format: 'istanbul',
  input: 'json',
  sniff(body) {
    return isObject(body);
  },
  async decode(payload) {
    return validateIstanbul(payload);
  },
};
