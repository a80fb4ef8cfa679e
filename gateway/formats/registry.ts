/**
 * The payload decoders by format. Adding a format is one decoder file plus
 * one line here (and its name in config/formats.ts, the one list of names).
 */
import type { PayloadDecoder } from './types.ts';
import type { PayloadFormat } from '../config/types.ts';
import { istanbulDecoder } from './istanbul.ts';
import { v8Decoder } from './v8.ts';
import { gocoverDecoder } from './gocover.ts';
import { lcovDecoder } from './lcov.ts';
import { coberturaDecoder } from './cobertura.ts';
import { coverallsDecoder } from './coveralls.ts';
import { gocovdataDecoder } from './gocovdata.ts';

export type PlainFormat = Exclude<PayloadFormat, 'covgate'>;

export const decoders: Record<PlainFormat, PayloadDecoder> = {
  istanbul: istanbulDecoder,
  v8: v8Decoder,
  gocover: gocoverDecoder,
  lcov: lcovDecoder,
  cobertura: coberturaDecoder,
  coveralls: coverallsDecoder,
  gocovdata: gocovdataDecoder,
};

/** The order `auto` tries JSON and text decoders in: most specific first, Istanbul (any object) last. */
export const JSON_SNIFF_ORDER: PlainFormat[] = ['v8', 'coveralls', 'gocovdata', 'istanbul'];
export const TEXT_SNIFF_ORDER: PlainFormat[] = ['gocover', 'cobertura', 'lcov'];

export function isPlainFormat(v: unknown): v is PlainFormat {
  return typeof v === 'string' && Object.hasOwn(decoders, v);
}
